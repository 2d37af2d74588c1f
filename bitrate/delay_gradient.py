"""Queueing seen in one-way delay: the delay-based half of Google's congestion control (GCC,
draft-ietf-rmcat-gcc-02 section 5, with libwebrtc's trendline filter), in the style of aiortc's
rate.py: pure logic, time comes in as milliseconds.

A message's one-way delay is its arrival time on the receiver's clock minus its send time on
the sender's; the clocks' offset is unknown but constant, so only changes of the delay mean
anything. A growing delay is a queue filling somewhere on the path, seconds before it
overflows into loss. The trendline is the slope of the accumulated delay variation over the
last ``TRENDLINE_SAMPLES`` messages; compared with an adaptive threshold it says whether the
path is over-used (queue growing), under-used (queue draining) or normal.

The delay above the smallest seen over ``BASE_DELAY_WINDOW_MS`` is the queueing delay itself,
which the sender holds below its latency bound.
"""

from __future__ import annotations

from collections import deque
from enum import Enum

from facecodec.transport.feedback import DelaySample

SMOOTHING = 0.6
"""Exponential smoothing of the accumulated delay per message (libwebrtc: 0.9 per 5-ms packet
group; a call at a few kbps sends a message every 100-200 ms, so it smooths over fewer)."""
TRENDLINE_SAMPLES = 10
"""Messages the slope is fitted over (libwebrtc: 20 packet groups; here 1-2 s of messages)."""
TREND_GAIN = 4.0
"""Scales the slope into the threshold's units (libwebrtc's threshold_gain)."""
MAX_SAMPLES_FOR_GAIN = 60
THRESHOLD_INITIAL_MS = 12.5
THRESHOLD_RANGE_MS = (6.0, 600.0)
K_UP = 0.0087
"""Threshold adaptation per ms when the trend is above it (GCC's k_u)."""
K_DOWN = 0.039
"""Threshold adaptation per ms when the trend is below it (GCC's k_d)."""
MAX_ADAPT_STEP_MS = 100.0
"""Longest gap between samples the threshold adapts over."""
THRESHOLD_OUTLIER_MS = 15.0
"""A trend this far beyond the threshold does not move it (GCC: sudden spikes are not noise)."""
OVERUSE_TIME_MS = 10.0
"""The trend must stay above the threshold this long (GCC's overuse_time_th)."""
BASE_DELAY_WINDOW_MS = 10_000.0
"""The path's own delay is the smallest one-way delay over this long."""


class Usage(Enum):
    NORMAL = "normal"
    OVERUSING = "overusing"
    """The queue is growing: send less than what gets through."""
    UNDERUSING = "underusing"
    """The queue is draining: hold the rate until it is empty."""


class DelayGradient:
    """Over-use detection and queueing delay from ``DelaySample``s, in arrival order."""

    def __init__(self) -> None:
        self.usage = Usage.NORMAL
        self.threshold_ms = THRESHOLD_INITIAL_MS
        self.trend = 0.0
        """Modified trend, comparable with ``threshold_ms``."""
        self._previous: DelaySample | None = None
        self._first_arrival_ms: float | None = None
        self._accumulated_ms = 0.0
        self._smoothed_ms = 0.0
        self._points: deque[tuple[float, float]] = deque(maxlen=TRENDLINE_SAMPLES)
        self._samples = 0
        self._overuse_ms = 0.0
        self._overuse_count = 0
        self._previous_trend = 0.0
        self._delays: deque[tuple[float, float]] = deque()
        """(arrival ms, one-way delay ms) over the base-delay window, increasing delays."""
        self._last_delay_ms = 0.0

    @property
    def queue_delay_ms(self) -> float:
        """The latest one-way delay above the path's smallest recent one."""
        if not self._delays:
            return 0.0
        return self._last_delay_ms - self._delays[0][1]

    def update(self, sample: DelaySample) -> Usage:
        """Take one message's times; the usage state after it."""
        self._track_base_delay(sample)
        previous, self._previous = self._previous, sample
        if previous is None or sample.arrival_ms < previous.arrival_ms:
            return self.usage  # the first sample, or reordered: no variation to measure
        arrival_delta = sample.arrival_ms - previous.arrival_ms
        variation = arrival_delta - (sample.send_ms - previous.send_ms)
        self._fit(sample.arrival_ms, variation)
        self._detect(arrival_delta)
        return self.usage

    def _track_base_delay(self, sample: DelaySample) -> None:
        delay = sample.arrival_ms - sample.send_ms
        self._last_delay_ms = delay
        # A monotonic deque: the window's minimum is at the front.
        while self._delays and self._delays[-1][1] >= delay:
            self._delays.pop()
        self._delays.append((sample.arrival_ms, delay))
        while self._delays[0][0] < sample.arrival_ms - BASE_DELAY_WINDOW_MS:
            self._delays.popleft()

    def _fit(self, arrival_ms: float, variation_ms: float) -> None:
        """Least-squares slope of the smoothed accumulated delay against arrival time."""
        if self._first_arrival_ms is None:
            self._first_arrival_ms = arrival_ms
        self._samples += 1
        self._accumulated_ms += variation_ms
        self._smoothed_ms = SMOOTHING * self._smoothed_ms + (1 - SMOOTHING) * self._accumulated_ms
        self._points.append((arrival_ms - self._first_arrival_ms, self._smoothed_ms))
        if len(self._points) < TRENDLINE_SAMPLES:
            return
        n = len(self._points)
        mean_x = sum(x for x, _ in self._points) / n
        mean_y = sum(y for _, y in self._points) / n
        spread = sum((x - mean_x) ** 2 for x, _ in self._points)
        if spread == 0:
            return
        slope = sum((x - mean_x) * (y - mean_y) for x, y in self._points) / spread
        self.trend = min(self._samples, MAX_SAMPLES_FOR_GAIN) * slope * TREND_GAIN

    def _detect(self, elapsed_ms: float) -> None:
        if self.trend > self.threshold_ms:
            self._overuse_ms += elapsed_ms
            self._overuse_count += 1
            if (
                self._overuse_ms > OVERUSE_TIME_MS
                and self._overuse_count > 1
                and self.trend >= self._previous_trend
            ):
                self._overuse_ms, self._overuse_count = 0.0, 0
                self.usage = Usage.OVERUSING
        elif self.trend < -self.threshold_ms:
            self._overuse_ms, self._overuse_count = 0.0, 0
            self.usage = Usage.UNDERUSING
        else:
            self._overuse_ms, self._overuse_count = 0.0, 0
            self.usage = Usage.NORMAL
        self._previous_trend = self.trend
        self._adapt_threshold(elapsed_ms)

    def _adapt_threshold(self, elapsed_ms: float) -> None:
        excess = abs(self.trend) - self.threshold_ms
        if excess > THRESHOLD_OUTLIER_MS:
            return
        gain = K_DOWN if abs(self.trend) < self.threshold_ms else K_UP
        step = min(elapsed_ms, MAX_ADAPT_STEP_MS)
        low, high = THRESHOLD_RANGE_MS
        self.threshold_ms = min(high, max(low, self.threshold_ms + step * gain * excess))
