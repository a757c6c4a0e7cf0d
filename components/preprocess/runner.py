"""Which Beam runner the preprocess job runs on when its options name none."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.portability.portable_runner import JobServiceHandle
from apache_beam.runners.runner import PipelineRunner


def default_runner(options: PipelineOptions) -> PipelineRunner | None:
    """Beam's in-process runner, unless ``--runner`` names one (then ``None``: Beam's choice).

    Without ``--runner`` Beam's DirectRunner first tries the Prism runner, which downloads a
    binary from GitHub at run time (no timeout: a pod whose egress is dropped waits forever),
    then runs the job on it: a runner the tests never ran. Offline it falls back to the
    in-process FnApiRunner and leaves a ``beam-temp*`` directory in TMPDIR each time. This
    builds that runner directly, the way the DirectRunner does (options passed to the workers,
    ``--direct_num_workers`` and ``--direct_running_mode`` honoured). An explicit
    ``--runner=DirectRunner`` keeps Beam's behaviour.
    """
    if options.view_as(StandardOptions).runner:
        return None
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))
