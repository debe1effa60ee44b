"""The demo: the sandbox world `make run` seeds into the AWS simulator, and a simulated
customer who sends peering requests from an account of its own. Installed only when
DEMO_MODE is on (settings), with the `demo` install extra (moto); production has neither."""
