"""The forms in which the docker provider reads values back from Docker.

pulumi-docker is a bridged Terraform provider (kreuzwerker/terraform-provider-docker v4.5.0,
the `upstream` submodule pulumi-docker 5.x pins). Its Create ends by reading the container
back, and every later diff compares the program's inputs with that read-back state, not
with the previous inputs. An input that Docker or the provider rewrites therefore shows as
a change on every `pulumi up`; for a ForceNew property (cpus, capabilities) that change is
a replacement of every container. The program sends each value in the form it is read back
in, so a no-op `up` changes nothing. tests/engine/schemas/readback.json lists the rule for
every docker property the program sets, with its source; the stand-in provider applies it.

Standard library only (the policy pack and the stand-ins import the model).
"""

from __future__ import annotations

from fractions import Fraction

NANO = 10**9


def _float_string(value: Fraction, digits: int) -> str:
    """Go's big.Rat.FloatString: `digits` decimals, the last rounded half away from zero."""
    scaled = value * 10**digits
    whole = int(abs(scaled) + Fraction(1, 2))
    sign = "-" if scaled < 0 else ""
    text = str(whole).rjust(digits + 1, "0")
    return f"{sign}{text[:-digits]}.{text[-digits:]}" if digits else f"{sign}{text}"


def nano_cpus(cpus: str) -> int:
    """What the provider sends Docker for `cpus` (docker/cli opts.ParseCPUs: the decimal in
    nanoseconds of CPU per second)."""
    return int(Fraction(cpus) * NANO)


def read_cpus(nano: int) -> str:
    """How the provider reads NanoCPUs back (helpers.go nanoInt64ToDecimalString): 9 decimals,
    then "N.0" when exactly nine zeros remain in the text, else the trailing zeros cut. So 12
    CPUs read back as "12.0", 10 as "10." and 0.25 as "0.25"; 0.05 rounds to "0.1"."""
    if nano == 0:
        return "0"
    value = Fraction(nano, NANO)
    text = _float_string(value, 9)
    if text.count("0") == 9:
        return _float_string(value, 1)
    return text.rstrip("0")


def docker_cpus(cpus: float) -> str:
    """The `cpus` input that reads back unchanged. Raises ValueError for a value Docker cannot
    hold as given (below a nanosecond, or one the provider's read-back rounds)."""
    text = read_cpus(round(Fraction(str(cpus)) * NANO))
    if Fraction(text) != Fraction(str(cpus)):
        raise ValueError(
            f"expected a CPU limit that the docker provider reads back unchanged; {cpus:g} reads back "
            f"as {text}, so every `pulumi up` would replace the container"
        )
    return text


def capability(name: str) -> str:
    """A Linux capability as Docker stores it: with the CAP_ prefix (moby's
    NormalizeLegacyCapabilities, daemon/pkg/oci/caps); "ALL" stays "ALL". Older engines store
    what they are given, and the prefixed form is valid on every engine."""
    upper = name.upper()
    return upper if upper == "ALL" or upper.startswith("CAP_") else f"CAP_{upper}"


def go_duration(seconds: int) -> str:
    """A duration as Go's time.Duration.String() prints it ("10s", "1m0s", "1h0m0s"): how the
    provider reads a healthcheck's interval, timeout and start period back."""
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
