"""The status rank a certificate record keeps (its expiry state's rank where time does not
matter), so that the device list sorts by status without a CASE over every record (issue 24)."""


from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('devices', '0015_approve_key_release_permission'),
    ]

    operations = [
        migrations.AddField(
            model_name='certificaterecord',
            name='status_rank',
            field=models.GeneratedField(db_persist=True, expression=models.Case(models.When(last_checked__isnull=True, then=models.Value(7)), models.When(models.Q(models.Q(('last_error_code', ''), _negated=True), models.Q(('status__in', [0, 1, 2]), _negated=True), models.Q(('not_after__isnull', True), ('status', 2)), _connector='OR'), then=models.Value(6)), models.When(status__in=[0, 1], then=models.Value(5)), default=models.Value(0)), output_field=models.PositiveSmallIntegerField(), verbose_name='status rank'),
        ),
    ]
