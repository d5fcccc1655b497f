"""Analysis: what a rendered call shows, in states, spans and measured audio.

- `timeline`: the routing states of a scenario over time, from the call model alone
  (`state_timeline`), and why each cell of the matrix is what it is;
- `measure`: who heard whom, measured from the pre-limiter mix (`measure`, `Pair`);
- `report`: ``who-heard-whom.json`` and the report page (`write_report`);
- `inspect`: `mpcmix inspect`'s text.

Runs scenarios through mpcmix.scenario's driver and the engine's public hooks; nothing here
decides a rule.
"""

from __future__ import annotations
