"""`orca` subcommands that live in modules of their own (registered in `server.cli`)."""
