"""What the kiosk and terminal screens show, without Kivy: presenters, texts, formats.

The Kivy apps in kiosk/ and terminal/ are thin: they turn taps and button presses into
presenter calls and draw the view models the presenters hand back (on the UI thread,
through the `post` function the app gives them). Everything here runs without a window.
"""
