import logging
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core import audit
from core.models import AuditEvent
from peerings import aws, services, validators
from peerings.models import Deployment, PeeringConnection, Resource, SupportRequest

log = logging.getLogger(__name__)


class DescribedErrors:
    """A field with errors names its messages (`aria-describedby`), so a screen reader says
    why as it lands on the field; Django marks it `aria-invalid` itself. Our templates give
    a field's messages the id `errors-<name>` (and its help text `<auto_id>_helptext`)."""

    def add_error(self, field, error):
        # Every error passes here: the fields' own, clean()'s, and a service's refusal
        # added by the view after validation.
        super().add_error(field, error)
        for name in self.errors:
            if name in self.fields:
                described_by = [f"errors-{name}"]
                if self.fields[name].help_text:
                    described_by.append(f"{self[name].auto_id}_helptext")
                self.fields[name].widget.attrs["aria-describedby"] = " ".join(described_by)


class AwsIdField(forms.CharField):
    """AWS IDs are lower-case; people paste them with spaces or in capitals."""

    def to_python(self, value):
        return super().to_python(value).strip().lower()


class AccountIdField(forms.CharField):
    """The AWS console shows account IDs as 1234-5678-9012."""

    def to_python(self, value):
        return super().to_python(value).replace("-", "").replace(" ", "")


class PeeringForm(DescribedErrors, forms.Form):
    peering_id = AwsIdField(
        label=_("Peering ID"),
        max_length=64,
        validators=[validators.validate_peering_id],
        widget=forms.TextInput(attrs={"placeholder": "pcx-…"}),
    )
    account_id = AccountIdField(
        label=_("Account ID"),
        max_length=64,
        validators=[validators.validate_account_id],
        widget=forms.TextInput(attrs={"placeholder": _("12 digits")}),
    )
    vpc_id = AwsIdField(
        label=_("VPC ID"),
        max_length=64,
        validators=[validators.validate_vpc_id],
        widget=forms.TextInput(attrs={"placeholder": "vpc-…"}),
    )

    def __init__(self, *args, deployment, **kwargs):
        super().__init__(*args, **kwargs)
        self.deployment = deployment
        # What services.create_peering records, once the checks have passed.
        self.verified = None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned  # the format is wrong: asking AWS would only add noise
        try:
            self.verified = services.check_new_peering(
                self.deployment,
                peering_id=cleaned["peering_id"],
                account_id=cleaned["account_id"],
                vpc_id=cleaned["vpc_id"],
            )
        except services.Refused as refused:
            refused.add_to(self)
        except aws.AwsMisconfigured as exc:
            raise forms.ValidationError(
                _(
                    "We could not check your request: the portal's own AWS set-up has a "
                    "problem (%(code)s). Nothing was saved; our support team has been alerted."
                ),
                code="aws_misconfigured",
                params={"code": exc.code},
            ) from None
        except aws.AwsUnavailable:
            raise forms.ValidationError(
                _(
                    "AWS did not answer in time, so we could not check your request. Nothing "
                    "was saved; please try again in a minute."
                ),
                code="aws_unavailable",
            ) from None
        except aws.AwsError as exc:
            log.exception("checking %s for %s: AWS refused", cleaned["peering_id"], self.deployment)
            raise forms.ValidationError(
                _(
                    "AWS refused our check of your request (%(code)s). Nothing was saved; our "
                    "support team can see the details."
                ),
                code="aws_refused",
                params={"code": exc.code or _("no code")},
            ) from None
        return cleaned


def _peering_choice_label(peering):
    return f"{peering.peering_id} ({', '.join(peering.customer_cidrs)})"


class ResourceForm(DescribedErrors, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), choices=Resource.Kind.choices)
    host = forms.CharField(
        label=_("Host"),
        max_length=253,
        validators=[validators.validate_host],
        help_text=_("A private IP in your VPC, or a host name."),
    )
    port = forms.IntegerField(label=_("Port"), min_value=1, max_value=65535)
    peering = forms.ModelChoiceField(
        label=_("VPC peering"),
        queryset=PeeringConnection.objects.none(),
        to_field_name="pk",
        empty_label=_("- Choose a VPC peering -"),
    )

    def __init__(self, *args, deployment, **kwargs):
        super().__init__(*args, **kwargs)
        self.deployment = deployment
        # Only this deployment's running peerings are offered; anything else posted by hand
        # is refused as "not one of the available choices".
        self.fields["peering"].queryset = deployment.peerings.filter(
            status=PeeringConnection.Status.RUNNING
        )
        self.fields["peering"].label_from_instance = _peering_choice_label
        running = list(self.fields["peering"].queryset[:2])
        if len(running) == 1 and not self.is_bound:
            # The only choice there is: chosen already.
            self.fields["peering"].initial = running[0].pk
            self.fields["peering"].empty_label = None

    def clean_host(self):
        return self.cleaned_data["host"].strip().lower()

    def clean_name(self):
        return self.cleaned_data["name"].strip()

    def clean(self):
        cleaned = super().clean()
        # The rules and their messages are the services' (the admin asks the same).
        services.Refused(
            services.resource_problems(
                self.deployment,
                peering=cleaned.get("peering"),
                host=cleaned.get("host"),
                name=cleaned.get("name"),
            )
        ).add_to(self)
        return cleaned


class MoveResourceForm(DescribedErrors, forms.Form):
    peering = forms.ModelChoiceField(
        label=_("Move to VPC peering"),
        queryset=PeeringConnection.objects.none(),
        to_field_name="pk",
        # Django's "- Select an option -" has no Chinese in Django's own catalog yet.
        empty_label=_("- Choose a VPC peering -"),
    )

    def __init__(self, *args, resource, **kwargs):
        super().__init__(*args, **kwargs)
        self.resource = resource
        # The deployment's other running peerings; the service checks the host against the
        # chosen one's CIDRs (and the database refuses a peering no longer running).
        self.fields["peering"].queryset = resource.deployment.peerings.filter(
            status=PeeringConnection.Status.RUNNING
        ).exclude(pk=resource.peering_id)
        self.fields["peering"].label_from_instance = _peering_choice_label


class SupportRequestForm(forms.Form):
    words = forms.CharField(
        label=_("What should we know? (optional)"),
        required=False,
        max_length=SupportRequest.WORDS_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class AuditFilterForm(forms.Form):
    deployment = forms.ModelChoiceField(
        label=_("Deployment"),
        queryset=Deployment.objects.none(),
        required=False,
        empty_label=pgettext_lazy("every choice of a filter", "All"),
    )
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
    # A callable: the apps' actions are known once the app registry is ready.
    action = forms.ChoiceField(
        label=_("Action"),
        choices=lambda: [
            ("", pgettext_lazy("every choice of a filter", "All")),
            *audit.customer_actions(),
        ],
        required=False,
    )
    since = forms.DateField(
        required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"})
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, deployments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["deployment"].queryset = deployments
        for name, field in self.fields.items():
            # Each field's errors sit in a box of their own (audit.html), which an htmx
            # update replaces while the field itself stays as the person left it.
            if not field.widget.is_hidden:
                field.widget.attrs["aria-describedby"] = f"errors-{name}"

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("since", _("From must be on or before To."))
        return cleaned

    def filter(self, events):
        """Apply what is valid; a bad value is shown as an error and simply not applied."""
        if not self.is_bound:
            return events, None
        self.is_valid()  # fills cleaned_data with the fields that are valid
        data = self.cleaned_data
        if data.get("deployment"):
            events = events.filter(deployment=data["deployment"])
        if data.get("actor"):
            # Support staff are shown as the vendor's support, and found only as such: a
            # guessed username must not tell a customer which engineer acted.
            by_support = Q(source=AuditEvent.Source.ADMIN) | Q(by_support=True)
            if data["actor"] == f"{settings.VENDOR_NAME} support":
                events = events.filter(by_support)
            else:
                events = events.filter(actor_name=data["actor"]).exclude(by_support)
        if data.get("action"):
            events = events.filter(action=data["action"])
        # Whole UTC days, as bounds on the column itself so that its index serves them.
        if data.get("since"):
            events = events.filter(created_at__gte=_midnight(data["since"]))
        # The last day a date field takes has no next midnight: nothing is later anyway.
        if data.get("until") and data["until"] < date.max:
            events = events.filter(created_at__lt=_midnight(data["until"] + timedelta(days=1)))
        return events, data.get("before")


def _midnight(day):
    return datetime.combine(day, time.min, tzinfo=UTC)
