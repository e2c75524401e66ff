using System;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;

namespace KernelHarness.Reference.AddressSpace;

/// <summary>
/// The scheduler's side of mm lifetime (Documentation/mm/active_mm.rst, kernel/sched/core.c
/// <c>context_switch</c>/<c>finish_task_switch</c>, kernel/exit.c <c>exit_mm</c>), run by the machine
/// on every context switch and task exit. It takes and drops references through the <em>bound</em>
/// address-space subsystem (<c>mmgrab</c>/<c>mmdrop</c>/<c>mmput</c>), so a student's implementation
/// is exercised exactly as the kernel would call it.
/// </summary>
/// <remarks>
/// The counted lazy-TLB variant (CONFIG_MMU_LAZY_TLB_REFCOUNT=y):
/// <list type="table">
/// <item><term>kernel → kernel</term><description><c>next-&gt;active_mm = prev-&gt;active_mm; prev-&gt;active_mm = NULL</c> (the lazy reference moves, no count change)</description></item>
/// <item><term>user → kernel</term><description><c>next-&gt;active_mm = prev-&gt;active_mm; mmgrab(prev-&gt;active_mm)</c></description></item>
/// <item><term>kernel → user</term><description><c>mmdrop(prev-&gt;active_mm); prev-&gt;active_mm = NULL</c></description></item>
/// <item><term>user → user</term><description>no count change</description></item>
/// </list>
/// A task "is a kernel thread" here when <c>mm == NULL</c>, which includes a task that has just run
/// <c>exit_mm</c>. The subsystem calls made at a context switch run with the machine's interleaving
/// suspended (Linux runs them with interrupts off, on the switching CPU).
/// </remarks>
internal static class LazyTlb
{
    /// <summary>The machine's <see cref="Machine.ContextSwitchHook"/>: <c>current</c> has just changed from <paramref name="prev"/> to <paramref name="next"/>.</summary>
    internal static void ContextSwitch(Cpu cpu, SimTask prev, SimTask next)
    {
        if (ReferenceEquals(prev, next))
            return;
        var m = prev.Machine;
        m.InterleaveOff++;
        m.Attention();
        try
        {
            SwitchMm(m, prev.Task, next.Task);
        }
        finally
        {
            m.InterleaveOff--;
        }
    }

    /// <summary>The mm handling of <c>context_switch</c> for a switch from <paramref name="prev"/> to <paramref name="next"/>.</summary>
    internal static void SwitchMm(Machine m, task_struct prev, task_struct next)
    {
        var a = m.AddressSpace;
        if (next.mm is null)
        {
            // to kernel: borrow the previous address space (lazy TLB)
            var borrowed = prev.active_mm;
            next.active_mm = borrowed;
            if (prev.mm is not null)
            {
                if (borrowed is not null)
                    Call(m, "mmgrab", () => a?.mmgrab(borrowed));
            }
            else
            {
                prev.active_mm = null;
            }
        }
        else
        {
            // to user: switch_mm to next->mm; a kernel thread's borrowed mm is dropped in finish_task_switch
            next.active_mm = next.mm;
            if (prev.mm is null)
            {
                var old = prev.active_mm;
                prev.active_mm = null;
                if (old is not null)
                    Call(m, "mmdrop", () => a?.mmdrop(old));
            }
        }
    }

    /// <summary>The machine's <see cref="Machine.ExitMmHook"/>: <c>exit_mm</c> for a task that is exiting.</summary>
    internal static void ExitMm(SimTask t) => ExitMm(t.Machine, t.Task);

    /// <summary>
    /// <c>exit_mm</c> (kernel/exit.c): <c>mmgrab_lazy_tlb(mm)</c>, <c>current-&gt;mm = NULL</c>
    /// (active_mm stays: the task runs on lazily until it is switched out), then <c>mmput(mm)</c>.
    /// </summary>
    internal static void ExitMm(Machine m, task_struct tsk)
    {
        var mm = tsk.mm;
        if (mm is null)
            return;
        var a = m.AddressSpace;
        if (!ReferenceEquals(mm, tsk.active_mm))
            m.Warn($"kernel BUG at kernel/exit.c: exit_mm: {tsk.comm}/{tsk.pid} has mm {mm.name} but active_mm {tsk.active_mm?.name ?? "NULL"}", "exit_mm");
        Call(m, "mmgrab", () => a?.mmgrab(mm));
        tsk.mm = null;
        Call(m, "mmput", () => a?.mmput(mm));
    }

    private static void Call(Machine m, string function, Action call)
    {
        try
        {
            call();
        }
        catch (Exception ex) when (ex is not TaskKilledException and not KernelOopsException)
        {
            m.Report(ReportKind.Oops, $"Oops: {ex.GetType().Name} in {function}() called by the scheduler (lazy TLB mm handling): {ex.Message}",
                StackCapture.FromException(ex), function, ex);
        }
    }
}

/// <summary>
/// User processes for tests (conformance suites, instructors' tests): a task with an address space,
/// as <c>fork</c>/<c>exec</c> would make it. The mm reference counts follow Documentation/mm/active_mm.rst;
/// the machine's scheduler does the lazy-TLB part (<see cref="LazyTlb"/>) at every switch and exit.
/// </summary>
public static class UserTasks
{
    private static Machine M => Machine.Current;

    /// <summary>
    /// Starts a user process running <paramref name="fn"/> with <paramref name="mm"/> as its address
    /// space (<c>mm == active_mm == mm</c>). The task takes over one <c>mm_users</c> reference the caller
    /// holds (the one <c>mm_alloc</c> returns, or an extra <c>mmget</c> for a <c>CLONE_VM</c> thread) and
    /// gives it back through <c>exit_mm</c> → <c>mmput</c> when it returns.
    /// </summary>
    public static task_struct spawn_user_process(string comm, mm_struct mm, Func<int> fn)
    {
        ArgumentNullException.ThrowIfNull(mm);
        ArgumentNullException.ThrowIfNull(fn);
        var t = M.SpawnTask(comm, fn, kernelThread: false);
        t.Task.mm = mm;
        t.Task.active_mm = mm;
        return t.Task;
    }

    /// <summary>
    /// <c>exec_mmap</c> (fs/exec.c) for the current task: it becomes a user of <paramref name="mm"/>
    /// (taking over one <c>mm_users</c> reference the caller holds) and gives up its old mm
    /// (<c>mmput</c>) or the address space it borrowed as a kernel thread (<c>mmdrop</c>).
    /// </summary>
    public static void exec_mmap(mm_struct mm)
    {
        ArgumentNullException.ThrowIfNull(mm);
        var m = M;
        var tsk = m.CurrentTask;
        var oldMm = tsk.mm;
        var active = tsk.active_mm;
        tsk.mm = mm;
        tsk.active_mm = mm;
        if (oldMm is not null)
            m.AddressSpace.mmput(oldMm);
        else if (active is not null)
            m.AddressSpace.mmdrop(active);
    }

    /// <summary><c>exit_mm</c> for the current task: it keeps running as a kernel thread with the old mm as a lazy active_mm.</summary>
    public static void exit_mm() => LazyTlb.ExitMm(M, M.CurrentTask);

    /// <summary><c>exit_mm</c> for <paramref name="tsk"/> (a task made with <see cref="new_task_struct"/>).</summary>
    public static void exit_mm(task_struct tsk) => LazyTlb.ExitMm(M, tsk);

    /// <summary>
    /// A task that never runs, for scenario tests of the mm handling: a user task when
    /// <paramref name="mm"/> is given (it takes over one <c>mm_users</c> reference), a kernel thread
    /// otherwise. Drive it with <see cref="context_switch"/> and <see cref="exit_mm(task_struct)"/>.
    /// </summary>
    public static task_struct new_task_struct(string comm, mm_struct? mm)
    {
        var t = M.NewTask(comm, isIdle: false);
        if (mm is null)
            t.Task.flags |= Kernel.PF_KTHREAD;
        t.Task.mm = mm;
        t.Task.active_mm = mm;
        return t.Task;
    }

    /// <summary>
    /// The mm handling of <c>context_switch</c>/<c>finish_task_switch</c> for a switch from
    /// <paramref name="prev"/> to <paramref name="next"/> on one CPU: exactly what the machine's scheduler
    /// does at every real switch (see <see cref="LazyTlb"/>).
    /// </summary>
    public static void context_switch(task_struct prev, task_struct next)
    {
        if (ReferenceEquals(prev, next))
            return;
        LazyTlb.SwitchMm(M, prev, next);
    }
}
