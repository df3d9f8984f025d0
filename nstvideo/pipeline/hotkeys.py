"""Live-preview hotkeys: a pure key code -> state change, so every key is testable without a window.

The preview loop calls `LiveControls.handle(key)` with what `cv2.waitKeyEx` returned; the dispatcher changes the
shared `LiveState` (read by the inference thread and the display loop) and returns the action's name. One-shot
actions (snapshot, record toggle) are queued in the state for the display loop to carry out, because they need
the current frame and the sinks, which the dispatcher knows nothing about.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

STRENGTH_STEP = 0.1
ESC = 27

# Arrow keys as cv2.waitKeyEx reports them: GTK/X11, Windows (Win32), macOS (Cocoa), Qt.
LEFT_KEYS = frozenset({65361, 2424832, 63234, 0x1000012})
RIGHT_KEYS = frozenset({65363, 2555904, 63235, 0x1000014})

#: (keys, what they do), for the help overlay and the README.
HELP = (
    ("<- / ->, p / n", "previous / next style"),
    ("1-9", "pick a style"),
    ("+ / -", "strength up / down"),
    ("c", "colour preservation on/off"),
    ("space", "show the original (all outputs)"),
    ("m", "mirror the preview"),
    ("s", "snapshot to a file"),
    ("r", "start / stop recording"),
    ("f", "fullscreen"),
    ("h", "this help"),
    ("q / Esc", "quit"),
)


@dataclass
class LiveState:
    """What the user can change while the pipeline runs; a lock keeps multi-field reads consistent."""

    style_names: list[str]
    style_index: int = 0
    strength: float = 1.0
    preserve_color: bool = False
    show_original: bool = False
    mirror: bool = False
    fullscreen: bool = False
    show_help: bool = False
    quit: bool = False
    snapshot_requests: int = 0
    record_toggles: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def style_name(self) -> str:
        return self.style_names[self.style_index]

    def _take(self, counter: str) -> bool:
        """True once per press counted in `counter` (the display loop consumes it)."""
        with self.lock:
            if getattr(self, counter):
                setattr(self, counter, getattr(self, counter) - 1)
                return True
            return False

    def take_snapshot_request(self) -> bool:
        """True once per `s` press."""
        return self._take("snapshot_requests")

    def take_record_toggle(self) -> bool:
        """True once per `r` press."""
        return self._take("record_toggles")


class LiveControls:
    """Key code -> action on a LiveState."""

    def __init__(self, state: LiveState) -> None:
        self.state = state

    def handle(self, key: int) -> str | None:
        """Apply one key press; returns the action's name, or None for a key with no meaning (or -1: no key)."""
        if key < 0:
            return None
        s = self.state
        with s.lock:
            if key in LEFT_KEYS:
                return self._step_style(-1)
            if key in RIGHT_KEYS:
                return self._step_style(+1)
            if key >= 256:  # other special keys (function keys, modifiers)
                return None
            ch = chr(key)
            if ch in ("q", "Q") or key == ESC:
                s.quit = True
                return "quit"
            if ch == "n":
                return self._step_style(+1)
            if ch == "p":
                return self._step_style(-1)
            if "1" <= ch <= "9":
                index = int(ch) - 1
                if index >= len(s.style_names):
                    return None
                s.style_index = index
                return "style"
            if ch in ("+", "="):  # '=' is '+' without shift on most layouts
                s.strength = round(min(1.0, s.strength + STRENGTH_STEP), 2)
                return "strength"
            if ch in ("-", "_"):
                s.strength = round(max(0.0, s.strength - STRENGTH_STEP), 2)
                return "strength"
            if ch == "c":
                s.preserve_color = not s.preserve_color
                return "color"
            if ch == " ":
                s.show_original = not s.show_original
                return "original"
            if ch == "m":
                s.mirror = not s.mirror
                return "mirror"
            if ch == "s":
                s.snapshot_requests += 1
                return "snapshot"
            if ch == "r":
                s.record_toggles += 1
                return "record"
            if ch == "f":
                s.fullscreen = not s.fullscreen
                return "fullscreen"
            if ch == "h":
                s.show_help = not s.show_help
                return "help"
        return None

    def _step_style(self, step: int) -> str:
        s = self.state
        s.style_index = (s.style_index + step) % len(s.style_names)
        return "style"
