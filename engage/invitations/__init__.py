"""Invitations, RSVP answers, capacity and waitlist, reminders, check-in, attendance."""
