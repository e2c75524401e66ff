using System.Linq;
using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Reference.CpuState;

public class PreemptCountTests
{
    [Fact]
    public void A_machine_has_four_cpus_by_default()
    {
        int cpus = 0;
        var m = Sim.Run(() => cpus = nr_cpu_ids);
        Assert.Equal(4, cpus);
        Assert.Equal(4, m.Config.Cpus);
        Assert.Equal(4, m.Cpus.Length);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    public void The_cpu_count_is_configurable(int n)
    {
        int cpus = 0, archCpus = 0;
        var m = Sim.Run(() => { cpus = nr_cpu_ids; archCpus = Arch.nr_cpu_ids; }, new MachineConfig { Cpus = n });
        Assert.Equal(n, cpus);
        Assert.Equal(n, archCpus);
    }

    [Fact]
    public void Process_context_starts_with_a_zero_count_and_interrupts_enabled()
    {
        int pc = -1;
        bool irqsOff = true, task = false, atomic = true, intr = true;
        Sim.Run(() =>
        {
            pc = preempt_count();
            irqsOff = irqs_disabled();
            task = in_task();
            atomic = in_atomic();
            intr = in_interrupt();
        });
        Assert.Equal(0, pc);
        Assert.False(irqsOff);
        Assert.True(task);
        Assert.False(atomic);
        Assert.False(intr);
    }

    [Fact]
    public void Preempt_disable_adds_one_and_nests()
    {
        int one = 0, two = 0, back = -1;
        var m = Sim.Run(() =>
        {
            preempt_disable();
            one = preempt_count();
            preempt_disable();
            two = preempt_count();
            preempt_enable();
            preempt_enable();
            back = preempt_count();
        });
        Assert.Equal(1, one);
        Assert.Equal(2, two);
        Assert.Equal(0, back);
        Sim.NoReports(m);
    }

    [Fact]
    public void Inside_irq_enter_with_one_preempt_disable_the_count_is_0x10001()
    {
        int pc = 0;
        bool hard = false, intr = false, task = true, softirq = true;
        var m = Sim.Run(() =>
        {
            local_irq_disable();
            irq_enter();
            preempt_disable();
            pc = preempt_count();
            hard = in_hardirq() && in_irq();
            intr = in_interrupt();
            task = in_task();
            softirq = in_softirq();
            preempt_enable();
            irq_exit();
            local_irq_enable();
        });
        Assert.Equal(0x10001, pc);
        Assert.True(hard);
        Assert.True(intr);
        Assert.False(task);
        Assert.False(softirq);
        Sim.NoReports(m);
    }

    [Fact]
    public void Local_bh_disable_adds_softirq_disable_offset_and_counts_as_interrupt_but_still_task()
    {
        int pc = 0;
        bool inSoftirq = false, serving = true, intr = false, task = false;
        var m = Sim.Run(() =>
        {
            local_bh_disable();
            pc = preempt_count();
            inSoftirq = in_softirq();
            serving = in_serving_softirq();
            intr = in_interrupt();
            task = in_task();
            local_bh_enable();
        });
        Assert.Equal(0x200, pc);
        Assert.True(inSoftirq);
        Assert.False(serving);
        Assert.True(intr);
        Assert.True(task);
        Sim.NoReports(m);
    }

    [Fact]
    public void Spin_lock_bh_adds_softirq_lock_offset()
    {
        int pc = 0;
        var l = new spinlock_t();
        Sim.Run(() =>
        {
            spin_lock_bh(l);
            pc = preempt_count();
            spin_unlock_bh(l);
        });
        Assert.Equal(SOFTIRQ_LOCK_OFFSET, pc);
        Assert.Equal(0x201, pc);
    }

    [Fact]
    public void A_tasklet_runs_serving_softirq_with_count_0x100()
    {
        int pc = 0;
        bool serving = false, task = true, hard = true, irqsOff = true;
        var t = new tasklet_struct();
        var done = new completion();
        var m = Sim.Run(() =>
        {
            tasklet_setup(t, _ =>
            {
                pc = preempt_count();
                serving = in_serving_softirq();
                task = in_task();
                hard = in_hardirq();
                irqsOff = irqs_disabled();
                complete(done);
            });
            tasklet_schedule(t);
            wait_for_completion(done);
        });
        Assert.Equal(SOFTIRQ_OFFSET, pc);
        Assert.True(serving);
        Assert.False(task);
        Assert.False(hard);
        Assert.False(irqsOff);
        Sim.NoReports(m);
    }

    [Fact]
    public void A_timer_function_runs_in_softirq_context_at_its_expiry()
    {
        int pc = 0;
        ulong firedAt = 0, armedAt = 0;
        var timer = new timer_list();
        var done = new completion();
        var m = Sim.Run(() =>
        {
            timer_setup(timer, _ => { pc = preempt_count(); firedAt = jiffies; complete(done); }, 0);
            armedAt = jiffies;
            mod_timer(timer, armedAt + 10);
            wait_for_completion(done);
        });
        Assert.Equal(SOFTIRQ_OFFSET, pc);
        Assert.True(firedAt - armedAt >= 10, $"fired after {firedAt - armedAt} jiffies");
        Sim.NoReports(m);
    }

    [Fact]
    public void Preempt_enable_without_preempt_disable_warns_and_does_not_underflow()
    {
        int pc = -1;
        var m = Sim.Run(() =>
        {
            preempt_enable();
            pc = preempt_count();
        });
        Assert.Equal(0, pc);
        var r = Sim.Single(m, ReportKind.Warning);
        Assert.Contains("preempt_enable() without preempt_disable()", r.Title);
        Sim.InLog(m, r);
    }

    [Fact]
    public void Each_cpu_has_its_own_preempt_count_and_interrupt_flag()
    {
        int[] counts = null!;
        bool[] enabled = null!;
        int me = -1;
        var m = new Machine(new MachineConfig { Seed = 3 });
        m.Run(() =>
        {
            local_irq_disable();
            preempt_disable();
            me = smp_processor_id();
            counts = m.Cpus.Select(c => c.PreemptCount).ToArray();
            enabled = m.Cpus.Select(c => c.IrqsEnabled).ToArray();
            preempt_enable();
            local_irq_enable();
        });
        for (int i = 0; i < counts.Length; i++)
        {
            Assert.Equal(i == me ? 1 : 0, counts[i]);
            Assert.Equal(i != me, enabled[i]);
        }
        Sim.NoReports(m);
    }
}
