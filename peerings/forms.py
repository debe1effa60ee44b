from django import forms

from peerings import aws, services, validators


class AwsIdField(forms.CharField):
    """AWS IDs are lower-case; people paste them with spaces or in capitals."""

    def to_python(self, value):
        return super().to_python(value).strip().lower()


class AccountIdField(forms.CharField):
    """The AWS console shows account IDs as 1234-5678-9012."""

    def to_python(self, value):
        return super().to_python(value).replace("-", "").replace(" ", "")


class PeeringForm(forms.Form):
    peering_id = AwsIdField(label="Peering ID", max_length=64,
                            validators=[validators.validate_peering_id],
                            widget=forms.TextInput(attrs={"placeholder": "pcx-…"}))
    account_id = AccountIdField(label="Account ID", max_length=64,
                                 validators=[validators.validate_account_id],
                                 widget=forms.TextInput(attrs={"placeholder": "12 digits"}))
    vpc_id = AwsIdField(label="VPC ID", max_length=64, validators=[validators.validate_vpc_id],
                        widget=forms.TextInput(attrs={"placeholder": "vpc-…"}))

    def __init__(self, *args, deployment, **kwargs):
        super().__init__(*args, **kwargs)
        self.deployment = deployment
        self.request_in_aws = None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned  # the format is wrong: asking AWS would only add noise
        try:
            self.request_in_aws = services.check_new_peering(
                self.deployment, cleaned["peering_id"], cleaned["account_id"], cleaned["vpc_id"]
            )
        except services.PeeringRefused as refused:
            for field, messages in refused.errors.items():
                for message in messages:
                    self.add_error(field, message)
        except aws.AwsUnavailable:
            raise forms.ValidationError(
                "AWS did not answer in time, so we could not check your request. Nothing was "
                "saved; please try again in a minute.",
                code="aws_unavailable",
            ) from None
        return cleaned

    def new_peering(self):
        return services.NewPeering(
            peering_id=self.cleaned_data["peering_id"],
            account_id=self.cleaned_data["account_id"],
            vpc_id=self.cleaned_data["vpc_id"],
            cidrs=self.request_in_aws.requester_cidrs,
        )
