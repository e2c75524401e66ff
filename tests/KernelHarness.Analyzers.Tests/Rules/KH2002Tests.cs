using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH2002Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("local_irq_save not restored on an early return", @"
    int f()
    {
        [|local_irq_save(out var flags)|];
        if (busy) return -EBUSY;
        count++;
        local_irq_restore(flags);
        return 0;
    }"),
        Case("restore with flags not from the matching save", @"
    void f()
    {
        local_irq_save(out var flags);
        count++;
        [|local_irq_restore(saved_flags)|];
    }"),
        Case("crossed saves and restores", @"
    void f()
    {
        local_irq_save(out var a);
        local_irq_save(out var b);
        [|local_irq_restore(a)|];
        local_irq_restore(b);
    }"),
        Case("local_irq_enable inside a local_irq_save region", @"
    void f()
    {
        local_irq_save(out var flags);
        [|local_irq_enable()|];
        local_irq_restore(flags);
    }"),
        Case("local_irq_disable never enabled", @"
    void f() { [|local_irq_disable()|]; count++; }"),
        Case("local_irq_disable not undone on one branch", @"
    void f()
    {
        [|local_irq_disable()|];
        if (busy) return;
        local_irq_enable();
    }"),
        Case("handler leaves interrupts saved", @"
    int probe() => request_irq(irq, my_isr, 0, ""dev"", this);
    irqreturn_t my_isr(int n, object? d) { [|local_irq_save(out var f)|]; count++; return IRQ_HANDLED; }"),
        Case("save in a loop, restore after it", @"
    void f()
    {
        ulong flags = 0;
        for (int i = 0; i < 2; i++) { [|local_irq_save(out flags)|]; count++; }
        [|local_irq_restore(flags)|];
    }"),
        Case("restore before save on one path", @"
    void f(bool early)
    {
        if (early) { [|local_irq_restore(saved_flags)|]; return; }
        local_irq_save(out saved_flags);
        local_irq_restore(saved_flags);
    }"),
        Case("local_irq_enable with nothing disabled on this path", @"
    void f(bool off)
    {
        if (off) [|local_irq_disable()|];
        count++;
        if (!busy) [|local_irq_enable()|];
    }"),
        Case("one flags variable for two nested saves: the outer state is lost", @"
    void f()
    {
        local_irq_save(out ulong flags);
        local_irq_save(out flags);
        count++;
        local_irq_restore(flags);
        [|local_irq_restore(flags)|];
    }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("properly nested saves", @"
    void f()
    {
        local_irq_save(out var a);
        local_irq_save(out var b);
        count++;
        local_irq_restore(b);
        local_irq_restore(a);
    }"),
        Case("flags stored in a field and restored by a helper", @"
    void enter() { local_irq_save(out saved_flags); }
    void leave() { local_irq_restore(saved_flags); }
    void f() { enter(); count++; leave(); }"),
        Case("disable and enable", @"
    void f() { local_irq_disable(); count++; local_irq_enable(); }"),
        Case("try/finally restore", @"
    void f() { local_irq_save(out var flags); try { count++; } finally { local_irq_restore(flags); } }"),
        Case("correlated conditional save", @"
    void f(bool atomic)
    {
        ulong flags = 0;
        if (atomic) local_irq_save(out flags);
        count++;
        if (atomic) local_irq_restore(flags);
    }"),
        Case("early return before the save", @"
    int f() { if (busy) return -EBUSY; local_irq_save(out var flags); count++; local_irq_restore(flags); return 0; }"),
        Case("goto-style shared exit", @"
    int f()
    {
        int err = 0;
        local_irq_save(out var flags);
        if (busy) { err = -EBUSY; goto out_restore; }
        count++;
    out_restore:
        local_irq_restore(flags);
        return err;
    }"),
        Case("spin_lock_irqsave pairs", @"
    void f() { spin_lock_irqsave(rx_lock, out var flags); count++; spin_unlock_irqrestore(rx_lock, flags); }"),
        Case("save and restore in a loop", @"
    void f() { for (int i = 0; i < 3; i++) { local_irq_save(out var fl); count++; local_irq_restore(fl); } }"),
        Case("local_irq_disable inside a save region", @"
    void f() { local_irq_save(out var fl); local_irq_disable(); count++; local_irq_enable(); local_irq_restore(fl); }"),
        Case("one flags variable for two saves in turn", @"
    void f()
    {
        local_irq_save(out ulong flags);
        count++;
        local_irq_restore(flags);
        local_irq_save(out flags);
        count--;
        local_irq_restore(flags);
    }"),
        Case("a save and restore per iteration into one variable", @"
    void f()
    {
        ulong flags;
        for (int i = 0; i < 4; i++)
        {
            local_irq_save(out flags);
            count += i;
            local_irq_restore(flags);
        }
    }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<IrqSaveBalanceAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<IrqSaveBalanceAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }
}
