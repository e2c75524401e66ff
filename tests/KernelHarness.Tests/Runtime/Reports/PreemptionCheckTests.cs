using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Runtime.Reports;

public class PreemptionCheckTests
{
    [Fact]
    public void Smp_processor_id_in_preemptible_code_is_reported()
    {
        int line = 0;
        var m = Sim.Run(() =>
        {
            _ = smp_processor_id(); line = Sim.Here();
        });
        var r = Sim.Single(m, ReportKind.SmpProcessorIdPreemptible);
        Assert.Equal("BUG: using smp_processor_id() in preemptible [00000000] code: insmod/1", r.Title);
        Assert.Contains($"caller is {Sim.Site(line)}", r.Details);
        Sim.InLog(m, r);
    }

    [Fact]
    public void Smp_processor_id_with_preemption_or_interrupts_disabled_is_silent()
    {
        var m = Sim.Run(() =>
        {
            preempt_disable();
            _ = smp_processor_id();
            preempt_enable();
            local_irq_disable();
            _ = smp_processor_id();
            local_irq_enable();
            _ = get_cpu();
            put_cpu();
        });
        Sim.NoReports(m);
    }

    [Fact]
    public void Smp_processor_id_on_a_single_cpu_machine_is_silent()
    {
        var m = Sim.Run(() => _ = smp_processor_id(), new MachineConfig { Cpus = 1 });
        Sim.NoReports(m);
    }

    [Fact]
    public void This_cpu_ptr_in_preemptible_code_is_reported()
    {
        var v = DEFINE_PER_CPU<int>();
        var m = Sim.Run(() => this_cpu_ptr(v) = 1);
        var r = Sim.Single(m, ReportKind.SmpProcessorIdPreemptible);
        Assert.StartsWith("BUG: using this_cpu_ptr() in preemptible [00000000] code: insmod/1", r.Title);
    }
}
