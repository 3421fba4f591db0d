"""Handing chats to people: priorities, first-response deadlines and the caseworkers' desk."""
