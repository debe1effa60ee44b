from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from webhooks import validators
from webhooks.events import EVENT_TYPES


class EndpointForm(forms.Form):
    url = forms.URLField(
        label=_("URL"),
        max_length=2000,
        validators=[validators.validate_webhook_url],
        # type=text, not url: the browser's own check would hide our clearer messages.
        widget=forms.TextInput(
            attrs={"placeholder": "https://hooks.example.com/peering", "inputmode": "url"}
        ),
        help_text=_("Where we POST events. It must be https and reach a public address."),
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=_("Events"),
        choices=EVENT_TYPES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one event.")},
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)

    def clean_event_types(self):
        # In the order of EVENT_TYPES, whatever order the browser sent them in.
        chosen = set(self.cleaned_data["event_types"])
        return [event_type for event_type, _label in EVENT_TYPES if event_type in chosen]


class RotateForm(forms.Form):
    OVERLAPS = {"24h": timedelta(hours=24), "1h": timedelta(hours=1), "none": timedelta(0)}

    keep_previous = forms.ChoiceField(
        label=_("The current secret"),
        choices=[
            (
                "24h",
                _("keeps signing beside the new one for 24 hours (update your receiver meanwhile)"),
            ),
            ("1h", _("keeps signing beside the new one for 1 hour")),
            ("none", _("stops signing at once (it has leaked)")),
        ],
        initial="24h",
        widget=forms.RadioSelect,
    )

    def overlap(self):
        return self.OVERLAPS[self.cleaned_data["keep_previous"]]
