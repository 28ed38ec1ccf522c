"""Operator and client commands: chat, bench, cost, the A/B report, feedback."""
