"""The counter terminal: a Kivy app for staff. Logic lives in
`tapcard.ui.terminal.TerminalPresenter`; this package draws and forwards touches."""
