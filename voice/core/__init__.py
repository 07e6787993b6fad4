"""The pure core: the call engine, its events and actions, call state, menus, domain types, ports. No I/O."""
