"""The newest schema revision (the migrations' head: a test holds them equal), in a module
of its own so that reading it loads no SQLAlchemy."""

SCHEMA_REVISION = "0011"
