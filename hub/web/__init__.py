"""The HQ web dashboard: fleet, alerts, members and cards, reports, rules, users.

Server-rendered pages (Jinja2) with a little vanilla JS, a JSON API described by
OpenAPI, server-sent events for live fleet updates and /metrics for Prometheus. It
runs in the hub's process (`tapcard hub serve`) and reads the same database.
"""
