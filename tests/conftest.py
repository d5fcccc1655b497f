"""Suite-wide settings: the call model checks its incremental snapshot against a full one, and
the call engine its span plan changed in place against one laid out from scratch."""

from mpcmix.engine import CallEngine
from mpcmix.model.callmodel import CallModel

CallModel.verify_mix_state = True
CallEngine.verify_plan = True
