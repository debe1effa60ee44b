"""The cache every process shares when there is no Redis (REDIS_URL unset): Django's
database cache, its table made by core's migrations, with an increment fit for counters."""

import base64
import pickle

from django.core.cache.backends.db import DatabaseCache
from django.db import connections, models, router, transaction
from django.utils.timezone import now

# The settings' CACHES names the same table (the settings module imports no app code).
TABLE = "core_cache"


class SharedDatabaseCache(DatabaseCache):
    """Django's DatabaseCache takes `incr` from BaseCache: a read, then a write. Two
    processes counting the same failed login could both read 4 and both write 5, and the
    write gives the entry the default timeout again, so a lockout window would restart
    with every failure. Here the read and the write are one transaction holding the row
    (SELECT … FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions hold the database's
    write lock from their start), and the entry keeps its expiry, as Redis's INCR does."""

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        table, key_column = quote(self._table), quote("cache_key")
        value_column, expires_column = quote("value"), quote("expires")
        # Quoted names only, from the settings and Django's constants: nothing anyone typed.
        select = f"SELECT {value_column}, {expires_column} FROM {table} WHERE {key_column} = %s"  # noqa: S608
        update = f"UPDATE {table} SET {value_column} = %s WHERE {key_column} = %s"  # noqa: S608
        with transaction.atomic(using=db), connection.cursor() as cursor:
            locked = " FOR UPDATE" if connection.features.has_select_for_update else ""
            cursor.execute(select + locked, [key])
            row = cursor.fetchone()
            if row is None or _expires_at(connection, row[1]) < now():
                raise ValueError(f"Key '{key}' not found")
            stored = connection.ops.process_clob(row[0])
            # What this cache itself wrote, as DatabaseCache.get reads it.
            value = pickle.loads(base64.b64decode(stored.encode(), validate=True)) + delta  # noqa: S301
            pickled = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(update, [pickled, key])
        return value


def _expires_at(connection, value):
    # As DatabaseCache.get_many reads the column: aware or naive by backend and USE_TZ.
    expression = models.Expression(output_field=models.DateTimeField())
    converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(
        connection
    )
    for converter in converters:
        value = converter(value, expression, connection)
    return value
