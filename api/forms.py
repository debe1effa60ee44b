from datetime import UTC, datetime, time

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from api.models import ApiKey


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("What uses it, such as terraform-prod.")
    )
    role = forms.ChoiceField(
        label=_("Role"),
        choices=ApiKey.Role.choices,
        initial=ApiKey.Role.MEMBER,
        help_text=_("A member key creates and deletes; a viewer key only reads."),
    )
    expires_on = forms.DateField(
        label=_("Expires on (optional)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The key stops working at the start of this day (UTC)."),
    )

    def clean_name(self):
        return self.cleaned_data["name"].strip()

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day is not None and day <= timezone.now().date():
            raise forms.ValidationError(_("Choose a day after today."))
        return day

    def expires_at(self):
        day = self.cleaned_data.get("expires_on")
        return datetime.combine(day, time.min, tzinfo=UTC) if day else None
