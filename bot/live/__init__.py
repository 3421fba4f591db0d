"""What `lotse serve` is serving right now, and how editors' changes replace it while it runs."""
