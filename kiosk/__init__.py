"""The kiosk: a full-screen Kivy app where members tap a card, see their figures and
redeem rewards. Logic lives in `tapcard.ui.kiosk.KioskPresenter`; this package only draws."""
