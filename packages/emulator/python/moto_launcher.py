"""Starts moto's server with the patches discovery-sync needs.

moto 5.2.1 crashes on awsvpc RunTask (HTTP 500) because its EC2 NetworkInterface has no
``private_dns_name``; ECS reads it when it builds the task's ENI attachment. We add the property,
derived from the private IP the way EC2 names it, only when moto lacks it, so a fixed moto
keeps its own.
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
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
