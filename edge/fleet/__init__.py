"""Fleet: building engines on many devices from the workstation, the engine store that holds
them per device identity, and installing model folders on devices (see docs/jetson.md)."""
