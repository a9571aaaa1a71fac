"""The methods and the figures, each declared once: everything else reads these two tables.

A method is its name (what configs, run folders and the command line say), its name in the
papers, its look in every plot (line and marker; the colour says the distribution) and the traits
other code asks about. Its training code is the class registered under the same name in
:mod:`supermask.training.methods`; its defaults are rows of the protocol table
(:mod:`supermask.protocol`), since their order among the other rows decides which one applies.

A figure is its make target (also its CSV's name and its name in a campaign line), its notebook,
the heading it gets in REPORT.md and the plots it draws. Its claims, if the paper makes any, are
``supermask.figures.claims.FIGURE_CLAIMS[target]``.

Standard library only: the Makefile lists the figures with ``python3 -m supermask.registry``
before ``make setup`` has installed anything.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = ["FIGURES", "METHODS", "FigureEntry", "MethodEntry"]


@dataclass(frozen=True)
class MethodEntry:
    name: str
    title: str  # as the papers name it, in legends and tables
    line: str | tuple  # matplotlib line style
    marker: str
    learns_scores: bool = False  # trains edge-popup's scores (k defaults to Figures 4 and 6's 50 %)
    signed_mask: bool = False  # its subnetwork keeps a sign per weight, not only which weights


@dataclass(frozen=True)
class FigureEntry:
    target: str
    notebook: str  # notebooks/<notebook>.ipynb
    heading: str
    plots: tuple[str, ...]  # figures/<profile>/<plot>.png
    profiles: tuple[str, ...] | None = None  # the only profiles it is drawn at (None: every one)

    def drawn_at(self, profile: str) -> bool:
        return self.profiles is None or profile in self.profiles


METHODS: dict[str, MethodEntry] = {
    entry.name: entry
    for entry in (
        MethodEntry("edge-popup", "edge-popup", "-", "o", learns_scores=True),
        MethodEntry(
            "edge-popup-extras", "edge-popup + PaB's extras", (0, (5, 1)), "P", learns_scores=True
        ),
        MethodEntry("iterand", "IteRand", (0, (3, 1, 1, 1, 1, 1)), "D", learns_scores=True),
        MethodEntry("dense", "dense", "--", "x"),
        MethodEntry("zhou", "Zhou et al.", "--", "s"),
        MethodEntry("pab", "PaB", "-.", "^", signed_mask=True),
    )
}

FIGURES: dict[str, FigureEntry] = {
    entry.target: entry
    for entry in (
        FigureEntry("fig3", "fig3_vary_k", "Figure 3: varying k", ("fig3", "fig3_curves")),
        FigureEntry("fig4", "fig4_width", "Figure 4: varying the width", ("fig4", "fig4_curves")),
        FigureEntry(
            "fig5", "fig5_fixed_size", "Figure 5: fixed subnetwork size", ("fig5", "fig5_curves")
        ),
        FigureEntry(
            "fig6",
            "fig6_zhou",
            "Figure 6: edge-popup against Zhou et al.",
            ("fig6", "fig6_curves"),
        ),
        FigureEntry(
            "fig7", "fig7_distributions", "Figure 7: weight distributions", ("fig7", "fig7_curves")
        ),
        FigureEntry(
            "fig8",
            "fig8_imagenet",
            "Table 2 and Figures 8-10: ImageNet",
            ("imagenet_table2", "imagenet_k"),
        ),
        FigureEntry(
            "pab",
            "pab_vs_edgepopup",
            "PaB and IteRand against edge-popup (ResNet-18)",
            ("pab_accuracy", "pab_cost", "pab_curves"),
        ),
        FigureEntry(
            "iterand",
            "iterand_width",
            "IteRand against edge-popup as the parent widens (Conv6)",
            ("iterand", "iterand_curves"),
        ),
        FigureEntry(
            "budget",
            "budget",
            "How much training each Conv2 claim needs (the budget study)",
            ("budget", "budget_curves"),
            profiles=("paper", "smoke"),  # a study of the paper's schedule (smoke: its tests)
        ),
        FigureEntry(
            "lowk",
            "deep_low_k",
            "Deep networks at k = 10 %: budget or initialisation?",
            ("lowk_curves",),
        ),
    )
}


def _main(argv: list[str]) -> int:
    """``[PROFILE]``: ``target=notebook`` of every figure (drawn at PROFILE), for the Makefile."""
    if len(argv) > 1:
        print("usage: python3 -m supermask.registry [PROFILE]", file=sys.stderr)
        return 2
    shown = [f for f in FIGURES.values() if not argv or f.drawn_at(argv[0])]
    print(" ".join(f"{f.target}={f.notebook}" for f in shown))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
