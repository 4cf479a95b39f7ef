"""Printed receipts, shared by the terminal and the kiosk: what a receipt says
(`content`), the ESC/POS printer it goes to (`printer`), and the last receipts kept
for a reprint (`store`). Imports no program."""
