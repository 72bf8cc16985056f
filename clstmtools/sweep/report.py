"""The study as a person reads it: a table of its trials, best first, and a picture of error against trial
number and against each swept setting (Pillow)."""
import math
import os

from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState
from PIL import Image, ImageDraw

from ..display import picture_font, save_png_atomically
from .study import optimism

ORDER = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.RUNNING: 2, TrialState.WAITING: 3,
         TrialState.FAIL: 4}
COLOUR = {TrialState.COMPLETE: (30, 90, 210), TrialState.PRUNED: (230, 140, 20)}
BEST_COLOUR = (200, 40, 40)
LOST = "its worker stopped sending heartbeats (killed?)"
PANEL, PLOT_MARGIN, LEGEND = (360, 250), 58, 20


def trial_error(trial):
    """The trial's error: its value, or a pruned or running trial's last report (None: nothing yet)."""
    if trial.value is not None:
        return trial.value
    if trial.intermediate_values:
        return trial.intermediate_values[max(trial.intermediate_values)]
    return None


def wall_time(trial):
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def ranked(trials):
    """Finished trials best first, then running ones, then failed ones."""
    def key(trial):
        error = trial_error(trial)
        return ORDER.get(trial.state, 5), error if error is not None else math.inf, trial.number
    return sorted(trials, key=key)


def _shown(value, digits=4):
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def table(study):
    """The study's trials as aligned text lines: trial, state, error, lines trained, wall time, values; then
    which error it is (the test error marked optimistic: the test set chose the best trial)."""
    trials = ranked(study.get_trials(deepcopy=False))
    names = sorted({name for trial in trials for name in trial.params})
    rows = [["trial", "state", "error", "lines", "time/s", *names, "reason"]]
    for trial in trials:
        reason = trial.user_attrs.get("fail_reason", LOST if trial.state == TrialState.FAIL else "")
        seconds = wall_time(trial)
        error = None if trial.state == TrialState.FAIL else trial_error(trial)
        rows.append([str(trial.number), trial.state.name, _shown(error),
                     str(trial.user_attrs.get("lines", "-")), "-" if seconds is None else f"{seconds:.1f}",
                     *(_shown(trial.params.get(name)) for name in names), reason])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]).rstrip()
             for row in rows]
    objective = study.user_attrs.get("objective")
    if objective:
        lines.append(f"# error: the {objective} error{optimism(objective)}")
    return lines


# --- the picture ------------------------------------------------------------------------------------------
def _scale(lo, hi, log):
    """A function mapping a value to 0..1 over [lo, hi] (log-scaled when ``log``)."""
    if log:
        lo, hi = math.log(lo), math.log(hi)
    span = hi - lo or 1.0
    return lambda v: ((math.log(v) if log else v) - lo) / span


def _panel(title, points, x_log=False, categories=None):
    """One scatter plot: ``points`` are (x, error, colour, best); categories place x by position."""
    width, height = PANEL
    image = Image.new("RGB", PANEL, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = picture_font(12)
    left, top, right, bottom = PLOT_MARGIN, 22, width - 12, height - 30
    draw.rectangle((left, top, right, bottom), outline=(160, 160, 160))
    draw.text((left, 4), title, fill=(0, 0, 0), font=font)
    if not points:
        return image
    if categories is not None:
        xs = [categories.index(x) for x, *_ in points]
        fx, lo_x, hi_x = _scale(-0.5, len(categories) - 0.5, False), None, None
        for i, category in enumerate(categories):
            draw.text((left + fx(i) * (right - left) - 8, bottom + 4), _shown(category, 3), fill=(0, 0, 0), font=font)
    else:
        xs = [x for x, *_ in points]
        lo_x, hi_x = min(xs), max(xs)
        fx = _scale(lo_x, hi_x, x_log and lo_x > 0)
    errors = [e for _, e, *_ in points]
    lo_y, hi_y = min(errors), max(errors)
    fy = _scale(lo_y, hi_y, False)
    for (x, (_, error, colour, best)) in zip(xs, points):
        px = left + 6 + fx(x) * (right - left - 12) if hi_x != lo_x or categories else (left + right) / 2
        py = bottom - 6 - fy(error) * (bottom - top - 12) if hi_y != lo_y else (top + bottom) / 2
        draw.ellipse((px - 4, py - 4, px + 4, py + 4), fill=colour)
        if best:
            draw.ellipse((px - 8, py - 8, px + 8, py + 8), outline=BEST_COLOUR, width=2)
    draw.text((2, top), _shown(hi_y, 3), fill=(0, 0, 0), font=font)
    draw.text((2, bottom - 12), _shown(lo_y, 3), fill=(0, 0, 0), font=font)
    if categories is None:
        draw.text((left, bottom + 4), _shown(lo_x, 3), fill=(0, 0, 0), font=font)
        label = _shown(hi_x, 3)
        draw.text((right - 7 * len(label), bottom + 4), label, fill=(0, 0, 0), font=font)
    return image


def render(study):
    """The picture: error against trial number, then against each swept setting (blue: complete,
    orange: pruned; the best trial ringed in red)."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state in COLOUR and trial_error(t) is not None]
    best = min(trials, key=trial_error, default=None)
    best = best.number if best is not None and best.state == TrialState.COMPLETE else None
    panels = [_panel(f"{study.study_name}: error against trial",
                     [(t.number, trial_error(t), COLOUR[t.state], t.number == best) for t in trials])]
    for name in sorted({name for t in trials for name in t.params}):
        having = [t for t in trials if name in t.params]
        distribution = having[0].distributions[name]
        points = [(t.params[name], trial_error(t), COLOUR[t.state], t.number == best) for t in having]
        if isinstance(distribution, CategoricalDistribution):
            categories = list(dict.fromkeys([*distribution.choices, *(t.params[name] for t in having)]))
            panels.append(_panel(f"error against {name}", points, categories=categories))
        else:
            panels.append(_panel(f"error against {name}" + (" (log)" if distribution.log else ""), points,
                                 x_log=distribution.log))
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    picture = Image.new("RGB", (columns * PANEL[0], rows * PANEL[1] + LEGEND), (255, 255, 255))
    for i, panel in enumerate(panels):
        picture.paste(panel, ((i % columns) * PANEL[0], (i // columns) * PANEL[1]))
    draw, font, x = ImageDraw.Draw(picture), picture_font(12), 8
    for label, colour in (("complete", COLOUR[TrialState.COMPLETE]), ("pruned (last error)", COLOUR[TrialState.PRUNED])):
        draw.ellipse((x, rows * PANEL[1] + 5, x + 8, rows * PANEL[1] + 13), fill=colour)
        draw.text((x + 12, rows * PANEL[1] + 3), label, fill=(0, 0, 0), font=font)
        x += 20 + int(draw.textlength(label, font=font))
    draw.ellipse((x, rows * PANEL[1] + 3, x + 12, rows * PANEL[1] + 15), outline=BEST_COLOUR, width=2)
    draw.text((x + 16, rows * PANEL[1] + 3), "best", fill=(0, 0, 0), font=font)
    return picture


def write_picture(study, path=None):
    """Write the picture to ``path`` (default NAME-sweep.png in the current folder); returns the path."""
    path = path or f"{study.study_name}-sweep.png"
    return save_png_atomically(os.fspath(path), render(study))
