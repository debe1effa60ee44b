"""`make bench`: the benchmark that shows the portal stays fast as customers grow."""
