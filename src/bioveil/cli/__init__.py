"""The ``bioveil`` command: one module per subcommand."""
