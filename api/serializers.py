"""What the API reads back, with the names of the dialog and the models, and the bodies
it takes (documented here; checked by the same forms and services as the UI's)."""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.models import AuditEvent
from peerings.models import Deployment, PeeringConnection, Resource


class DeploymentSerializer(serializers.ModelSerializer):
    """A deployment with the four values the dialog shows for a peering request."""

    peering_allowed = serializers.BooleanField(read_only=True)
    vendor_name = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = [
            "id",
            "name",
            "plan",
            "cloud",
            "peering_allowed",
            "region",
            "vpc_id",
            "cidr",
            "vendor_account_id",
            "vendor_name",
        ]

    def get_vendor_name(self, deployment) -> str:
        return settings.VENDOR_NAME


class RouteStepSerializer(serializers.Serializer):
    route_tables_of_vpc = serializers.CharField(help_text="Your VPC, whose route tables need it.")
    destination_cidr_block = serializers.CharField(help_text="The deployment's CIDR.")
    vpc_peering_connection_id = serializers.CharField()


class SecurityGroupStepSerializer(serializers.Serializer):
    protocol = serializers.CharField()
    source_cidr = serializers.CharField(help_text="The deployment's CIDR.")
    ports = serializers.CharField(help_text="Your resources' ports.")


class CustomerStepsSerializer(serializers.Serializer):
    """Once running: the two steps left in the customer's AWS account, with the values the
    deployment page's "Finish in your AWS account" shows."""

    region = serializers.CharField()
    route = RouteStepSerializer()
    security_group_ingress = SecurityGroupStepSerializer()


def customer_steps(peering):
    if peering.status != PeeringConnection.Status.RUNNING:
        return None
    deployment = peering.deployment
    return {
        "region": deployment.region,
        "route": {
            "route_tables_of_vpc": peering.customer_vpc_id,
            "destination_cidr_block": deployment.cidr,
            "vpc_peering_connection_id": peering.peering_id,
        },
        "security_group_ingress": {
            "protocol": "tcp",
            "source_cidr": deployment.cidr,
            "ports": "the ports of your resources",
        },
    }


class PeeringSerializer(serializers.ModelSerializer):
    deployment = serializers.IntegerField(source="deployment_id", read_only=True)
    customer_cidrs = serializers.ListField(child=serializers.CharField(), read_only=True)
    # Rendered in the request's language (Accept-Language); the code beside it is stable.
    status_reason = serializers.CharField(
        read_only=True, help_text="Why the peering is in its status, for a person to read."
    )
    status_reason_code = serializers.CharField(
        read_only=True,
        help_text="A machine-readable code for status_reason; empty when there is none.",
    )
    status_reason_params = serializers.DictField(
        read_only=True, help_text="The values status_reason names, by the code's parameter."
    )
    customer_steps = serializers.SerializerMethodField(
        help_text="What is left to do in your AWS account (running peerings only)."
    )

    class Meta:
        model = PeeringConnection
        fields = [
            "id",
            "peering_id",
            "deployment",
            "customer_account_id",
            "customer_vpc_id",
            "customer_cidrs",
            "status",
            "status_reason",
            "status_reason_code",
            "status_reason_params",
            "retryable",
            "created_at",
            "status_changed_at",
            "customer_steps",
        ]
        read_only_fields = fields

    @extend_schema_field(CustomerStepsSerializer(allow_null=True))
    def get_customer_steps(self, peering):
        return customer_steps(peering)


class PeeringCreateSerializer(serializers.Serializer):
    """The dialog's three values."""

    peering_id = serializers.CharField(help_text="pcx-…, of the request made in your account.")
    account_id = serializers.CharField(help_text="Your AWS account ID (12 digits).")
    vpc_id = serializers.CharField(help_text="vpc-…, the VPC the request comes from.")


class ResourceSerializer(serializers.ModelSerializer):
    deployment = serializers.IntegerField(source="deployment_id", read_only=True)
    peering = serializers.IntegerField(source="peering_id", read_only=True)

    class Meta:
        model = Resource
        fields = ["id", "name", "kind", "host", "port", "peering", "deployment", "created_at"]
        read_only_fields = fields


class ResourceCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Resource.Kind.choices)
    host = serializers.CharField(help_text="A private IP in your VPC, or a host name.")
    port = serializers.IntegerField(min_value=1, max_value=65535)
    peering = serializers.CharField(help_text="A running peering: our ID or its pcx-… ID.")


class ResourceMoveSerializer(serializers.Serializer):
    peering = serializers.CharField(help_text="Another running peering: our ID or its pcx-… ID.")


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label", read_only=True)
    deployment = serializers.IntegerField(source="deployment_id", read_only=True, allow_null=True)
    ip = serializers.CharField(source="shown_ip", read_only=True, allow_null=True)
    request_id = serializers.CharField(source="shown_request_id", read_only=True)
    before = serializers.DictField(read_only=True)
    after = serializers.DictField(read_only=True)
    # Rendered in the request's language (Accept-Language); the code beside it is stable.
    message = serializers.CharField(
        source="message_text", read_only=True, help_text="What happened, for a person to read."
    )
    message_code = serializers.CharField(
        read_only=True,
        help_text="A machine-readable code for message; empty for events recorded in words.",
    )
    message_params = serializers.DictField(
        read_only=True, help_text="The values message names, by the code's parameter."
    )

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "source",
            "ip",
            "request_id",
            "deployment",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "before",
            "after",
            "message",
            "message_code",
            "message_params",
        ]
        read_only_fields = fields
