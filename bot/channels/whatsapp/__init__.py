"""WhatsApp through Meta's Cloud API: the webhook that receives, and the Graph API client that sends."""
