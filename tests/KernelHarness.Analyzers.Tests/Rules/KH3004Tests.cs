using System.Collections.Generic;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;
using static KernelHarness.Analyzers.Tests.Rules.MemoryRuleSnippets;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH3004Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("allocation leaks on a catch's error return", @"int check(int n) => n < 0 ? throw new System.InvalidOperationException() : n; int f(int n) { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; try { n = check(n); } catch (System.InvalidOperationException) { [|return -EINVAL;|] } obj = a; return n; }"),
        Case("allocation leaks on the catch an array index reaches", @"int f(int[] t, int i) { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; try { count = t[i]; } catch (System.IndexOutOfRangeException) { [|return -EINVAL;|] } obj = a; return 0; }"),
        Case("second allocation fails, first leaks", @"int f() { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; var b = kmalloc(64, GFP_KERNEL); if (b == NULL) [|return -ENOMEM;|] obj = a; buf = b; return 0; }"),
        Case("error code in a local", @"int f(bool bad) { int ret = 0; var a = kzalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; if (bad) { ret = -EINVAL; goto done; } obj = a; done: [|return ret;|] }"),
        Case("cache object leaks on a failed registration", @"int f(uint irq) { var p = kmem_cache_alloc(cache_a, GFP_KERNEL); if (p == NULL) return -ENOMEM; if (request_irq(irq, (i, d) => IRQ_HANDLED, 0, ""x"", this) != 0) [|return -EBUSY;|] obj = p; return 0; }"),
        Case("allocation from a helper leaks", @"kptr make() => kmem_cache_zalloc(cache_b, GFP_KERNEL); int f(bool bad) { var p = make(); if (p == NULL) return -ENOMEM; if (bad) [|return -EIO;|] buf = p; return 0; }"),
        Case("handed to a helper that only fills it", @"void fill(kptr p) { if (p != NULL) memset(p, 0, 64); } int f(bool bad) { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; fill(a); if (bad) [|return -EINVAL;|] obj = a; return 0; }"),
        Case("handed through two read-only helpers", @"void zero(kptr p) => memset(p, 0, 64); void prepare(kptr p) => zero(p); int f(bool bad) { var a = kzalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; prepare(a); if (bad) [|return -EIO;|] obj = a; return 0; }"),
        Case("request_irq's errno passed up", @"int f(uint irq) { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; int err = request_irq(irq, (i, d) => IRQ_NONE, IRQF_SHARED, ""x"", this); if (err != 0) [|return err;|] buf = p; return 0; }"),
        Case("a negative result passed up", @"int setup() => count > 0 ? 0 : -EIO; int f() { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; int ret = setup(); if (ret < 0) [|return ret;|] buf = p; return 0; }"),
        Case("mutex_lock_interruptible's -EINTR passed up", @"readonly mutex cfg = new(); int f() { var p = kzalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; int ret = mutex_lock_interruptible(cfg); if (0 != ret) [|return ret;|] buf = p; mutex_unlock(cfg); return 0; }"),
        Case("wait_event_interruptible's -ERESTARTSYS passed up", @"readonly wait_queue_head_t wq = new(); int f() { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; int ret = wait_event_interruptible(wq, () => count > 0); if (ret != 0) [|return ret;|] buf = p; return 0; }"),
        Case("the result of a helper marked [ReturnsErrno] passed up", @"[KernelHarness.Annotations.ReturnsErrno] int setup() => count > 0 ? 0 : -EIO; int f() { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; int ret = setup(); if (ret != 0) [|return ret;|] buf = p; return 0; }"),
        Case("ERR_PTR return", @"kptr f(bool bad) { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return ERR_PTR(-ENOMEM); if (bad) [|return ERR_PTR(-EINVAL);|] return p; }"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("freed in the catch before its error return", @"int check(int n) => n < 0 ? throw new System.InvalidOperationException() : n; int f(int n) { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; try { n = check(n); } catch (System.InvalidOperationException) { kfree(a); return -EINVAL; } obj = a; return n; }"),
        Case("freed before the error return", @"int f() { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; var b = kmalloc(64, GFP_KERNEL); if (b == NULL) { kfree(a); return -ENOMEM; } obj = a; buf = b; return 0; }"),
        Case("stored in a field before the error return", @"int f(bool bad) { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; obj = a; if (bad) return -EINVAL; return 0; }"),
        Case("added to a list", @"System.Collections.Generic.List<kptr> items = new(); int f(bool bad) { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; items.Add(a); if (bad) return -EINVAL; return 0; }"),
        Case("handed to a helper that stores it", @"void keep(kptr p) { obj = p; } int f(bool bad) { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; keep(a); if (bad) return -EINVAL; return 0; }"),
        Case("handed to a helper that passes it on to one that stores it", @"void keep(kptr p) { obj = p; } void setup(kptr p) { memset(p, 0, 8); keep(p); } int f(bool bad) { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; setup(a); if (bad) return -EINVAL; return 0; }"),
        Case("handed to a helper that returns it", @"kptr id(kptr p) => p; int f(bool bad) { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; buf = id(a); if (bad) return -EINVAL; return 0; }"),
        Case("returned", @"kptr f() { var a = kmalloc(64, GFP_KERNEL); return a; }"),
        Case("request_irq's result returned once it is known to be 0", @"int f(uint irq) { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; int err = request_irq(irq, (i, d) => IRQ_NONE, IRQF_SHARED, ""x"", this); if (err == 0) return err; kfree(p); return err; }"),
        Case("a non-zero result of a function with no errno convention", @"int pending() => count; int f() { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; int n = pending(); if (n != 0) return n; buf = p; return 0; }"),
        Case("wait_event_timeout's jiffies left returned", @"readonly wait_queue_head_t wq = new(); long f() { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; long left = wait_event_timeout(wq, () => count > 0, 100); if (left != 0) return left; buf = p; return 0; }"),
        Case("the errno local overwritten before the return", @"int f(uint irq) { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; int err = request_irq(irq, (i, d) => IRQ_NONE, IRQF_SHARED, ""x"", this); if (err != 0) { err = 1; return err; } buf = p; return 0; }"),
        Case("the errno freed on its error path", @"int f(uint irq) { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; int err = request_irq(irq, (i, d) => IRQ_NONE, IRQF_SHARED, ""x"", this); if (err != 0) { kfree(p); return err; } buf = p; return 0; }"),
        Case("success path keeps it", @"int f() { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; buf = a; return 0; }"),
        Case("goto-style cleanup", @"int f() { int ret; var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; var b = kmalloc(64, GFP_KERNEL); if (b == NULL) { ret = -ENOMEM; goto free_a; } obj = a; buf = b; return 0; free_a: kfree(a); return ret; }"),
        Case("non-error return", @"int f() { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; memset(a, 0, 64); return 1; }"),
        Case("captured by a lambda", @"int f(uint irq) { var a = kmalloc(64, GFP_KERNEL); if (a == NULL) return -ENOMEM; INIT_WORK(new work_struct(), w => kfree(a)); return -EAGAIN; }"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<LeakOnErrorPathAnalyzer>.Diagnostics(Caches(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<LeakOnErrorPathAnalyzer>.NoDiagnostics(Caches(markup));
    }

    [Fact]
    public void Message_names_the_errno_and_the_allocation()
    {
        Verify<LeakOnErrorPathAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    kptr a_keep, b_keep;
    int f()
    {
        var a = kmalloc(64, GFP_KERNEL);
        if (a == NULL)
            return -ENOMEM;
        var b = vmalloc(4096);
        if (b == NULL)
            {|#0:return -ENOMEM;|}
        a_keep = a; b_keep = b;
        return 0;
    }
}", Expected.Diagnostic("KH3004", 0).WithMessage("This error path returns -ENOMEM without freeing a from kmalloc() (allocated at Driver.cs:7)"));
    }
}
