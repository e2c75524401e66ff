using System.Collections.Generic;
using KernelHarness.Analyzers.CodeFixes;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH2004Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("spin_lock_irqsave released by spin_unlock", @"void f() { spin_lock_irqsave(rx_lock, out var fl); count++; [|spin_unlock(rx_lock)|]; }"),
        Case("spin_lock_irqsave released by spin_unlock_irq", @"void f() { spin_lock_irqsave(rx_lock, out var fl); count++; [|spin_unlock_irq(rx_lock)|]; }"),
        Case("spin_lock_bh released by spin_unlock", @"void f() { spin_lock_bh(rx_lock); count++; [|spin_unlock(rx_lock)|]; }"),
        Case("spin_lock_irq released by spin_unlock", @"void f() { spin_lock_irq(rx_lock); count++; [|spin_unlock(rx_lock)|]; }"),
        Case("read_lock_irqsave released by read_unlock", @"void f() { read_lock_irqsave(rw, out var fl); count++; [|read_unlock(rw)|]; }"),
        Case("write_lock_bh released by write_unlock", @"void f() { write_lock_bh(rw); count++; [|write_unlock(rw)|]; }"),
        Case("spin_lock released by spin_unlock_bh", @"void f() { spin_lock(rx_lock); count++; [|spin_unlock_bh(rx_lock)|]; }"),
        Case("mmap_read_lock released by mmap_write_unlock", @"void f(mm_struct mm) { mmap_read_lock(mm); count++; [|mmap_write_unlock(mm)|]; }"),
        Case("write_lock_irq released by write_unlock_irqrestore", @"void f() { write_lock_irq(rw); count++; [|write_unlock_irqrestore(rw, saved_flags)|]; }"),
        Case("read_lock released by read_unlock_bh", @"void f() { read_lock(rw); count++; [|read_unlock_bh(rw)|]; }"),
        Case("spin_lock_irq released by spin_unlock_irqrestore", @"void f() { spin_lock_irq(rx_lock); count++; [|spin_unlock_irqrestore(rx_lock, saved_flags)|]; }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("read_lock under one's own write_lock, each released by its own unlock: the deadlock is KH2003's", @"
    void f() { write_lock(rw); read_lock(rw); count++; read_unlock(rw); write_unlock(rw); }"),
        Case("irqsave / irqrestore", @"void f() { spin_lock_irqsave(rx_lock, out var fl); count++; spin_unlock_irqrestore(rx_lock, fl); }"),
        Case("lock_irq / unlock_irq", @"void f() { spin_lock_irq(rx_lock); count++; spin_unlock_irq(rx_lock); }"),
        Case("lock_bh / unlock_bh", @"void f() { spin_lock_bh(rx_lock); count++; spin_unlock_bh(rx_lock); }"),
        Case("lock / unlock", @"void f() { spin_lock(rx_lock); count++; spin_unlock(rx_lock); }"),
        Case("read_lock_irqsave / read_unlock_irqrestore", @"void f() { read_lock_irqsave(rw, out var fl); count++; read_unlock_irqrestore(rw, fl); }"),
        Case("write_lock_bh / write_unlock_bh", @"void f() { write_lock_bh(rw); count++; write_unlock_bh(rw); }"),
        Case("mmap_read_lock / mmap_read_unlock", @"void f(mm_struct mm) { mmap_read_lock(mm); count++; mmap_read_unlock(mm); }"),
        Case("mutex_lock / mutex_unlock", @"void f() { mutex_lock(mtx); count++; mutex_unlock(mtx); }"),
        Case("down / up", @"void f() { down(sem); count++; up(sem); }"),
        Case("two locks each with its own variant", @"void f() { spin_lock_bh(rx_lock); spin_lock_irqsave(tx_lock, out var fl); count++; spin_unlock_irqrestore(tx_lock, fl); spin_unlock_bh(rx_lock); }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<LockVariantAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<LockVariantAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }

    [Fact]
    public void Message_names_both_variants()
    {
        Verify<LockVariantAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    spinlock_t l = new();
    void f() { spin_lock_irqsave(l, out var flags); {|#0:spin_unlock(l)|}; }
}", Expected.Diagnostic("KH2004", 0).WithMessage("l was taken with spin_lock_irqsave() (at Driver.cs:5) and must be released with spin_unlock_irqrestore(), not spin_unlock()"));
    }

    [Fact]
    public void Fix_uses_the_matching_release_with_the_saved_flags()
    {
        const string before = @"
public sealed class Driver
{
    spinlock_t a = new(), b = new();
    void f()
    {
        spin_lock_irqsave(a, out var flags);
        spin_unlock(a);
        spin_lock_bh(b);
        spin_unlock(b);
    }
}";
        Verify<LockVariantAnalyzer>.CodeFix<LockVariantCodeFixProvider>(before,
            before.Replace("spin_unlock(a)", "spin_unlock_irqrestore(a, flags)"),
            before.Replace("spin_unlock(a)", "spin_unlock_irqrestore(a, flags)").Replace("spin_unlock(b)", "spin_unlock_bh(b)"));
    }
}
