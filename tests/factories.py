import factory
from django.contrib.auth import get_user_model

from audiences.models import Segment
from campaigns.models import Campaign, Layout
from campaigns.rendering import DEFAULT_LAYOUTS
from newsletter.models import Membership, Newsletter, Role
from subscribers.models import (
    FieldDefinition,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.django.Password(PASSWORD)


class NewsletterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Newsletter

    name = factory.Sequence(lambda n: f"Project {n} News")
    slug = factory.Sequence(lambda n: f"project-{n}")
    description = "News from the project."
    from_name = "Project"
    from_email = factory.LazyAttribute(lambda n: f"news@{n.slug}.example.org")
    postal_address = "1 Example Street, Paris"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    newsletter = factory.SubFactory(NewsletterFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.EDITOR


class MailingListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MailingList

    newsletter = factory.SubFactory(NewsletterFactory)
    name = factory.Sequence(lambda n: f"List {n}")
    slug = factory.Sequence(lambda n: f"list-{n}")


class SubscriberFactory(factory.django.DjangoModelFactory):
    """A contact of a newsletter (a new one unless ``newsletter`` is given)."""

    class Meta:
        model = Subscriber

    newsletter = factory.SubFactory(NewsletterFactory)
    email = factory.Sequence(lambda n: f"person{n}@example.org")
    name = factory.Sequence(lambda n: f"Person {n}")


def default_layout_mjml() -> str:
    return DEFAULT_LAYOUTS[0].mjml()


class LayoutFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Layout

    newsletter = factory.SubFactory(NewsletterFactory)
    name = factory.Sequence(lambda n: f"Layout {n}")
    mjml = factory.LazyFunction(default_layout_mjml)


class CampaignFactory(factory.django.DjangoModelFactory):
    """A draft whose render is not cached yet; services render it on first use."""

    class Meta:
        model = Campaign

    newsletter = factory.SubFactory(NewsletterFactory)
    layout = factory.SubFactory(LayoutFactory, newsletter=factory.SelfAttribute("..newsletter"))
    name = factory.Sequence(lambda n: f"Campaign {n}")
    slug = factory.Sequence(lambda n: f"campaign-{n}")
    subject = "Project 2.0 is out"
    preheader = "What is new, and how to upgrade"
    body = 'Hello {{ subscriber.name|default:"friend" }},\n\nProject **2.0** is out.\n'


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """A contact on a list; the contact is made in the list's newsletter unless given."""

    class Meta:
        model = Subscription

    mailing_list = factory.SubFactory(MailingListFactory)
    subscriber = factory.SubFactory(
        SubscriberFactory, newsletter=factory.SelfAttribute("..mailing_list.newsletter")
    )
    status = SubscriptionStatus.CONFIRMED


class FieldDefinitionFactory(factory.django.DjangoModelFactory):
    """A custom field; ``type`` and ``choices`` as the test needs."""

    class Meta:
        model = FieldDefinition

    newsletter = factory.SubFactory(NewsletterFactory)
    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.LazyAttribute(lambda field: field.key.replace("_", " ").capitalize())
    type = "text"


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    newsletter = factory.SubFactory(NewsletterFactory)
    name = factory.Sequence(lambda n: f"Segment {n}")
    rules = factory.LazyFunction(lambda: {"all": []})
