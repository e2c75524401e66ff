using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Reference.CpuState;

public class IrqFlagsTests
{
    [Fact]
    public void Nested_local_irq_save_and_restore_restore_exactly_the_saved_state()
    {
        bool afterSave1 = false, afterSave2 = false, afterRestore2 = false, afterRestore1 = true;
        ulong f1 = 0, f2 = 1;
        var m = Sim.Run(() =>
        {
            local_irq_save(out f1);
            afterSave1 = irqs_disabled();
            local_irq_save(out f2);
            afterSave2 = irqs_disabled();
            local_irq_restore(f2);
            afterRestore2 = irqs_disabled();
            local_irq_restore(f1);
            afterRestore1 = irqs_disabled();
        });
        Assert.True(afterSave1);
        Assert.True(afterSave2);
        Assert.True(afterRestore2); // still disabled: f2 recorded "disabled"
        Assert.False(afterRestore1);
        Assert.Equal(X86_EFLAGS_IF, f1);
        Assert.Equal(0UL, f2);
        Sim.NoReports(m);
    }

    [Fact]
    public void Local_irq_enable_does_not_nest()
    {
        bool after = true;
        Sim.Run(() =>
        {
            local_irq_disable();
            local_irq_disable();
            local_irq_enable();
            after = irqs_disabled();
        });
        Assert.False(after);
    }

    [Fact]
    public void Restoring_disabled_flags_while_interrupts_are_on_warns_bogus_irq_restore()
    {
        var m = Sim.Run(() =>
        {
            local_irq_save(out var f1);
            local_irq_save(out var f2);
            local_irq_restore(f1);
            local_irq_restore(f2); // crossed: interrupts are on, f2 says "disabled"
            local_irq_enable();
        });
        var r = Sim.Single(m, ReportKind.Warning);
        Assert.Equal("raw_local_irq_restore() called with IRQs enabled", r.Title);
        Sim.InLog(m, r);
    }

    [Fact]
    public void Spin_lock_irqsave_disables_interrupts_and_restore_brings_back_the_saved_state()
    {
        var l = new spinlock_t();
        bool inside = false, after = true, insideNested = false, afterNested = false;
        int pc = 0;
        var m = Sim.Run(() =>
        {
            spin_lock_irqsave(l, out var flags);
            inside = irqs_disabled();
            pc = preempt_count();
            spin_unlock_irqrestore(l, flags);
            after = irqs_disabled();

            local_irq_disable();
            spin_lock_irqsave(l, out flags);
            insideNested = irqs_disabled();
            spin_unlock_irqrestore(l, flags);
            afterNested = irqs_disabled();
            local_irq_enable();
        });
        Assert.True(inside);
        Assert.Equal(1, pc);
        Assert.False(after);
        Assert.True(insideNested);
        Assert.True(afterNested);
        Sim.NoReports(m);
    }
}
