"""Channel adapters: each turns a platform's updates into `Inbound` and sends `Outbound` back."""
