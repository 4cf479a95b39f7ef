"""The counter terminal's presenters, without Kivy: `TerminalPresenter` (presenter.py)
is what the app talks to; the screens' view models are in views.py."""
