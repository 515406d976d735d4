"""The AWS account's infrastructure as CloudFormation (leafline.yaml), shipped inside the package so an
installed leafline can hand it to `aws cloudformation deploy` without the repository."""

from importlib import resources


def template_text() -> str:
    return resources.files(__name__).joinpath("leafline.yaml").read_text()
