"""SMS: the gateways (Twilio, a JSON gateway, the local outbox), their webhooks and the text rules."""
