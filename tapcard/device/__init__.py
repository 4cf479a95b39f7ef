"""What devices (kiosk and terminal) share: intents, and the runtime that sends them."""
