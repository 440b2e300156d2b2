"""The DoveRunner 3.0 dialect of keyward's SDK classes.

Each class is the PallyCon class with DoveRunner 3 semantics where the SDKs
differ (Widevine writes override_device_revocation, NCG section code 1062,
the token always carries key_rotation, ``json`` response format, messages
that name ``doverunner.config``); errors raise ``DoverunnerTokenException``.
"""

from typing import Any

from keyward import _native


class PlaybackPolicy(_native.PlaybackPolicy):
    """``PlaybackPolicy`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, *, dialect: str = "doverunner") -> "PlaybackPolicy":
        return super().__new__(cls, dialect=dialect)


class SecurityPolicy(_native.SecurityPolicy):
    """``SecurityPolicy`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, *, dialect: str = "doverunner") -> "SecurityPolicy":
        return super().__new__(cls, dialect=dialect)


class SecurityPolicyWidevine(_native.SecurityPolicyWidevine):
    """``SecurityPolicyWidevine`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, *, dialect: str = "doverunner") -> "SecurityPolicyWidevine":
        return super().__new__(cls, dialect=dialect)


class SecurityPolicyPlayready(_native.SecurityPolicyPlayready):
    """``SecurityPolicyPlayready`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, *, dialect: str = "doverunner") -> "SecurityPolicyPlayready":
        return super().__new__(cls, dialect=dialect)


class SecurityPolicyFairplay(_native.SecurityPolicyFairplay):
    """``SecurityPolicyFairplay`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, *, dialect: str = "doverunner") -> "SecurityPolicyFairplay":
        return super().__new__(cls, dialect=dialect)


class SecurityPolicyNcg(_native.SecurityPolicyNcg):
    """``SecurityPolicyNcg`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, *, dialect: str = "doverunner") -> "SecurityPolicyNcg":
        return super().__new__(cls, dialect=dialect)


class SecurityPolicyWiseplay(_native.SecurityPolicyWiseplay):
    """``SecurityPolicyWiseplay`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, *, dialect: str = "doverunner") -> "SecurityPolicyWiseplay":
        return super().__new__(cls, dialect=dialect)


class ExternalKey(_native.ExternalKey):
    """``ExternalKey`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, *, dialect: str = "doverunner") -> "ExternalKey":
        return super().__new__(cls, dialect=dialect)


class DoverunnerDrmTokenPolicy(_native.PallyConDrmTokenPolicy):
    """``PallyConDrmTokenPolicy`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, *, dialect: str = "doverunner") -> "DoverunnerDrmTokenPolicy":
        return super().__new__(cls, dialect=dialect)


class DoverunnerDrmTokenClient(_native.PallyConDrmTokenClient):
    """``PallyConDrmTokenClient`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, *, dialect: str = "doverunner") -> "DoverunnerDrmTokenClient":
        return super().__new__(cls, dialect=dialect)


class ExternalKeyMpegCenc(_native.ExternalKeyMpegCenc):
    """``ExternalKeyMpegCenc`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, track_type: Any = '', key_id: Any = '', key: Any = '', iv: Any = None, *, dialect: str = "doverunner") -> "ExternalKeyMpegCenc":
        return super().__new__(cls, track_type, key_id, key, iv, dialect=dialect)


class ExternalKeyHlsAes(_native.ExternalKeyHlsAes):
    """``ExternalKeyHlsAes`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, track_type: Any = '', key_id: Any = '', key: Any = '', iv: Any = '', *, dialect: str = "doverunner") -> "ExternalKeyHlsAes":
        return super().__new__(cls, track_type, key_id, key, iv, dialect=dialect)


class ExternalKeyNcg(_native.ExternalKeyNcg):
    """``ExternalKeyNcg`` in the DoveRunner 3 dialect."""

    __slots__ = ()

    def __new__(cls, track_type: Any = '', cek: Any = '', *, dialect: str = "doverunner") -> "ExternalKeyNcg":
        return super().__new__(cls, track_type, cek, dialect=dialect)


DoveRunnerDrmTokenPolicy = DoverunnerDrmTokenPolicy
DoveRunnerDrmTokenClient = DoverunnerDrmTokenClient
