"""Suite-wide settings: the call model checks its incremental snapshot against a full one."""

from mpcmix.model.callmodel import CallModel

CallModel.verify_mix_state = True
