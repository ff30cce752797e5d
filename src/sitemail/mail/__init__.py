"""What an email is: template sets per kind, rendering, and building the wire bytes."""
