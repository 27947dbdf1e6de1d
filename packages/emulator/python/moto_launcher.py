"""Starts moto's server with the patches discovery-sync needs.

moto 5.2.1 crashes on awsvpc RunTask (HTTP 500) because its EC2 NetworkInterface has no
``private_dns_name``; ECS reads it when it builds the task's ENI attachment. We add the property,
derived from the private IP the way EC2 names it, only when moto lacks it, so a fixed moto
keeps its own.

moto 5.2.1 also stores PutParameter's Tier "Intelligent-Tiering" literally, where AWS resolves it: Standard when the
value fits 4 KB and the parameter is not Advanced already (a tier never goes down), Advanced otherwise. The writer
relies on that to never read a parameter's tier first, so the emulator resolves it the same way.
"""
import sys


def _patch_network_interface() -> None:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface

    if hasattr(NetworkInterface, "private_dns_name"):
        return

    def private_dns_name(self) -> str:
        ip = getattr(self, "private_ip_address", None) or "0.0.0.0"
        return "ip-" + ip.replace(".", "-") + ".ec2.internal"

    NetworkInterface.private_dns_name = property(private_dns_name)


def _patch_intelligent_tiering() -> None:
    from moto.ssm.models import SimpleSystemManagerBackend

    original = SimpleSystemManagerBackend.put_parameter
    if getattr(original, "_discovery_sync_tiering", False):
        return

    def put_parameter(self, name, description, value, parameter_type, allowed_pattern, keyid, overwrite, tags, data_type, tier, policies):
        if tier == "Intelligent-Tiering":
            history = self._parameters.get(name) if name in self._parameters else None
            latest = history[-1] if history else None
            needs_advanced = (
                len((value or "").encode("utf-8")) > 4096
                or bool(policies)
                or (latest is not None and latest.tier == "Advanced")
            )
            tier = "Advanced" if needs_advanced else "Standard"
        return original(self, name, description, value, parameter_type, allowed_pattern, keyid, overwrite, tags, data_type, tier, policies)

    put_parameter._discovery_sync_tiering = True
    SimpleSystemManagerBackend.put_parameter = put_parameter


def main() -> None:
    try:
        import moto.server  # noqa: F401
    except ImportError as error:
        sys.stderr.write(
            "discovery-sync: moto's server is not installed for "
            + sys.executable
            + " ("
            + str(error)
            + ").\nInstall it with: pipx install \"moto[server]\"  (or: pip install \"moto[server]\")\n"
        )
        sys.exit(3)
    _patch_network_interface()
    _patch_intelligent_tiering()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
