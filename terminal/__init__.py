"""The counter terminal: a Kivy app for staff. Logic lives in
`terminal.presenters` (Kivy-free); this package draws and forwards touches."""
