using System;
using System.Collections.Generic;
using System.Linq;
using KernelHarness.Reference.AddressSpace;
using KernelHarness.Subsystems;
using static KernelHarness.Conformance.AddressSpace.AddressSpaceChecks;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.AddressSpace;

public sealed partial class AddressSpaceSuite
{
    /// <summary>Runs <paramref name="setup"/> with current.mm = <paramref name="mm"/> (no reference taken), to map VMAs into an mm the test task does not own.</summary>
    private static void WithMm(ConformanceContext ctx, mm_struct mm, Action setup)
    {
        var tsk = ctx.Machine.CurrentTask;
        var (oldMm, oldActive) = (tsk.mm, tsk.active_mm);
        tsk.mm = mm;
        tsk.active_mm = mm;
        try
        {
            setup();
        }
        finally
        {
            tsk.mm = oldMm;
            tsk.active_mm = oldActive;
        }
    }

    private static string Counts(mm_struct mm) => $"mm_users {mm.mm_users}, mm_count {mm.mm_count}, freed {mm.freed}";

    // ---- Reference counts (L-1, L-3) ----

    [ConformanceTest("mmget()/mmput() in include/linux/sched/mm.h, kernel/fork.c: the address space is torn down when mm_users reaches 0, and the mm freed through mmdrop()", Group = "directed")]
    public void mmput_tears_down_at_zero_users(ConformanceContext ctx)
    {
        var a = ctx.Subject<IAddressSpace>();
        var mm = a.mm_alloc()!;
        WithMm(ctx, mm, () => { MapFixed(ctx, BASE, P(2)); MapFixed(ctx, BASE + P(4), P(1), PROT_READ); });
        a.mmget(mm);
        ctx.Equal(2, mm.mm_users, "mmget() takes a user reference (mm_users + 1)");
        ctx.Equal(1, mm.mm_count, "mmget() does not touch mm_count: all real users together hold one mm_count reference");
        a.mmput(mm);
        ctx.Equal(1, mm.mm_users, "mmput() drops a user reference");
        ctx.Check(!mm.freed && mm.map_count == 2 && a.find_vma(mm, 0) is not null, "mmput() with users left keeps the address space", "2 VMAs, not freed", $"{mm.map_count} VMAs, {Counts(mm)}");
        a.mmput(mm);
        ctx.Equal(0, mm.mm_users, "the last mmput() drops mm_users to 0");
        ctx.Check(mm.map_count == 0 && a.find_vma(mm, 0) is null, "__mmput() -> exit_mmap(): at mm_users == 0 every VMA is removed", "no VMA", $"{mm.map_count} VMAs");
        ctx.Equal(0, mm.mm_count, "__mmput() ends with mmdrop(): the users' mm_count reference is dropped");
        ctx.Check(mm.freed, "__mmdrop(): the mm_struct is freed when mm_count reaches 0", "freed", Counts(mm));
    }

    [ConformanceTest("mmgrab()/mmdrop() in include/linux/sched/mm.h: an mm_count reference keeps the mm_struct (not the address space) alive after the last mmput()", Group = "directed")]
    public void mmgrab_keeps_mm_struct_after_last_mmput(ConformanceContext ctx)
    {
        var a = ctx.Subject<IAddressSpace>();
        var mm = a.mm_alloc()!;
        WithMm(ctx, mm, () => MapFixed(ctx, BASE, P(3)));
        a.mmgrab(mm);
        ctx.Equal(2, mm.mm_count, "mmgrab() takes an mm_count reference");
        a.mmput(mm);
        ctx.Check(mm.map_count == 0 && a.find_vma(mm, 0) is null, "the last mmput() tears the address space down even while mm_count is held", "no VMA", $"{mm.map_count} VMAs");
        ctx.Check(!mm.freed, "the mm_struct must not be freed while an mm_count reference is held (mmgrab)", "not freed", Counts(mm));
        ctx.Equal(1, mm.mm_count, "after the last mmput() only the mmgrab() reference is left");
        ctx.Check(!a.mmget_not_zero(mm), "mmget_not_zero() fails once mm_users is 0", "false", "true");
        ctx.Equal(0, mm.mm_users, "a failed mmget_not_zero() leaves mm_users at 0");
        a.mmdrop(mm);
        ctx.Check(mm.freed && mm.mm_count == 0, "the last mmdrop() frees the mm_struct", "freed, mm_count 0", Counts(mm));
    }

    [ConformanceTest("mmget_not_zero() in include/linux/sched/mm.h: takes a user reference while the address space is alive", Group = "directed")]
    public void mmget_not_zero_succeeds_while_users_remain(ConformanceContext ctx)
    {
        var a = ctx.Subject<IAddressSpace>();
        var mm = a.mm_alloc()!;
        ctx.Check(a.mmget_not_zero(mm), "mmget_not_zero() succeeds while mm_users > 0", "true", "false");
        ctx.Equal(2, mm.mm_users, "mmget_not_zero() takes a user reference");
        a.mmput(mm);
        a.mmput(mm);
        ctx.Check(mm.freed && mm.mm_users == 0 && mm.mm_count == 0, "two mmput()s after mm_alloc() + mmget_not_zero() free everything", "freed", Counts(mm));
    }

    // ---- active_mm and lazy TLB (L-2, L-4, L-6, L-8), driven switch by switch ----

    [ConformanceTest("Documentation/mm/active_mm.rst, context_switch() in kernel/sched/core.c, exit_mm() in kernel/exit.c: user task A preempted by kernel thread B (B borrows A's mm); A exits on another CPU; the zombie mm is freed only when B switches to a real mm", Group = "directed")]
    public void kernel_thread_borrowing_keeps_zombie_mm_until_switch(ConformanceContext ctx)
    {
        var a = ctx.Subject<IAddressSpace>();
        var mmA = a.mm_alloc()!;
        var mmC = a.mm_alloc()!;
        mmA.name = "A.mm";
        mmC.name = "C.mm";
        WithMm(ctx, mmA, () => { MapFixed(ctx, BASE, P(4)); MapFixed(ctx, BASE + P(8), P(2), PROT_READ); });
        var A = UserTasks.new_task_struct("A", mmA);
        var B = UserTasks.new_task_struct("kthread B", null);
        var idle1 = UserTasks.new_task_struct("swapper/1", null);
        var C = UserTasks.new_task_struct("C", mmC);
        a.mmget(mmC);
        var D = UserTasks.new_task_struct("D", mmC); // a CLONE_VM thread of C

        ctx.Step("CPU0: A -> kernel thread B (user -> kernel)");
        UserTasks.context_switch(A, B);
        ctx.Check(B.mm is null && ReferenceEquals(B.active_mm, mmA), "a kernel thread has mm == NULL and borrows the previous task's mm as active_mm", "B.mm NULL, B.active_mm A.mm", $"B.mm {B.mm?.name ?? "NULL"}, B.active_mm {B.active_mm?.name ?? "NULL"}");
        ctx.Equal(2, mmA.mm_count, "user -> kernel switch: mmgrab(prev->active_mm): mm_count is the lazy user plus one for the real users");

        ctx.Step("CPU1: swapper/1 -> A; A exits there (exit_mm)");
        UserTasks.context_switch(idle1, A);
        UserTasks.exit_mm(A);
        ctx.Equal(0, mmA.mm_users, "exit_mm() -> mmput(): A was the last real user");
        ctx.Check(mmA.map_count == 0 && a.find_vma(mmA, 0) is null, "exit_mmap() at mm_users == 0 removes every VMA although B still borrows the mm", "no VMA", $"{mmA.map_count} VMAs");
        ctx.Check(!mmA.freed, "the mm_struct must not be freed while kernel thread B still borrows it as active_mm (mm_count held): 'the zombie mm' of active_mm.rst", "not freed", Counts(mmA));
        ctx.Equal(2, mmA.mm_count, "after exit_mm(): mm_count counts B's lazy reference and A's own (exit_mm took mmgrab before mmput)");

        ctx.Step("CPU1: dead A -> swapper/1 (kernel -> kernel: the lazy reference moves)");
        UserTasks.context_switch(A, idle1);
        ctx.Check(A.active_mm is null && ReferenceEquals(idle1.active_mm, mmA), "kernel -> kernel switch: next->active_mm = prev->active_mm; prev->active_mm = NULL", "swapper/1 borrows A.mm", $"swapper/1.active_mm {idle1.active_mm?.name ?? "NULL"}");
        ctx.Equal(2, mmA.mm_count, "kernel -> kernel switch: no count change");

        ctx.Step("CPU1: swapper/1 -> C (kernel -> user: finish_task_switch drops the lazy reference)");
        UserTasks.context_switch(idle1, C);
        ctx.Equal(1, mmA.mm_count, "kernel -> user switch: mmdrop(prev->active_mm)");
        ctx.Check(!mmA.freed, "still borrowed by B: not freed", "not freed", Counts(mmA));

        ctx.Step("CPU0: kernel thread B -> D (kernel -> user)");
        UserTasks.context_switch(B, D);
        ctx.Equal(0, mmA.mm_count, "the last lazy user is switched out: mm_count reaches 0");
        ctx.Check(mmA.freed, "the zombie mm is released when mm_count becomes zero (active_mm.rst)", "freed", Counts(mmA));
        ctx.Check(B.active_mm is null, "kernel -> user switch: prev->active_mm = NULL", "NULL", B.active_mm?.name);

        ctx.Equal(2, mmC.mm_users, "user -> user switches do not touch the next task's mm_users");
        ctx.Equal(1, mmC.mm_count, "user -> user and kernel -> user switches do not touch the next task's mm_count");
        ctx.Check(!mmC.freed, "C's mm is alive", "not freed", Counts(mmC));
    }

    [ConformanceTest("context_switch() in kernel/sched/core.c: user -> user takes no reference; a kernel thread switched out for a user task drops what it borrowed, every mm freed exactly once", Group = "directed")]
    public void switch_sequence_frees_every_mm_exactly_once(ConformanceContext ctx)
    {
        var a = ctx.Subject<IAddressSpace>();
        var mms = Enumerable.Range(0, 3).Select(i => { var m = a.mm_alloc()!; m.name = $"P{i}.mm"; return m; }).ToArray();
        var users = mms.Select((m, i) => UserTasks.new_task_struct($"P{i}", m)).ToArray();
        var k = Enumerable.Range(0, 2).Select(i => UserTasks.new_task_struct($"kworker/{i}", null)).ToArray();
        UserTasks.context_switch(users[0], users[1]);
        ctx.Equal(1, mms[0].mm_count, "user -> user: no mm_count change for prev");
        ctx.Equal(1, mms[1].mm_count, "user -> user: no mm_count change for next");
        UserTasks.context_switch(users[1], k[0]);
        UserTasks.context_switch(k[0], k[1]);
        ctx.Equal(2, mms[1].mm_count, "user -> kernel -> kernel: one lazy reference, moved along");
        UserTasks.exit_mm(users[1]);
        UserTasks.exit_mm(users[0]);
        ctx.Check(!mms[0].freed && mms[0].mm_count == 1 && mms[0].map_count == 0,
            "exit_mm(): P0's address space is torn down, but P0 keeps its mm as a lazy active_mm (mmgrab before mmput) until switched out",
            "torn down, mm_count 1, not freed", $"{mms[0].map_count} VMAs, {Counts(mms[0])}");
        ctx.Check(!mms[1].freed && mms[1].mm_count == 2, "P1's mm: borrowed by kworker/1 and held lazily by the exiting P1", "mm_count 2, not freed", Counts(mms[1]));
        UserTasks.context_switch(users[1], k[0]);  // P1 (now mm == NULL) -> kernel: its lazy reference moves to kworker/0
        ctx.Equal(2, mms[1].mm_count, "an exited task switched to a kernel thread hands its lazy reference over (kernel -> kernel)");
        UserTasks.context_switch(k[1], users[2]);  // kworker/1 -> P2: drops its borrowed P1.mm
        ctx.Check(!mms[1].freed && mms[1].mm_count == 1, "kworker/0 still borrows P1's mm", "mm_count 1, not freed", Counts(mms[1]));
        UserTasks.context_switch(k[0], users[2]);
        ctx.Check(mms[1].freed && mms[1].mm_count == 0, "the last borrower switched out: P1's mm freed", "freed, mm_count 0", Counts(mms[1]));
        UserTasks.exit_mm(users[2]);
        ctx.Check(!mms[2].freed && mms[2].mm_count == 1, "an exiting task keeps its mm as a lazy active_mm until it is switched out", "mm_count 1, not freed", Counts(mms[2]));
        var q = UserTasks.new_task_struct("Q", a.mm_alloc()!);
        UserTasks.context_switch(users[0], q);
        UserTasks.context_switch(users[2], q);
        ctx.Check(mms.All(m => m.freed && m.mm_count == 0 && m.mm_users == 0), "every mm is freed exactly once: mm_count 0 (never below), mm_users 0",
            "all freed, counts 0", string.Join("; ", mms.Select(Counts)));
    }

    // ---- On the seeded scheduler ----

    private static int Borrowers(ConformanceContext ctx, mm_struct mm) =>
        ctx.Machine.AllTasks.Count(t => ReferenceEquals(t.Task.active_mm, mm) && !ReferenceEquals(t.Task.mm, mm));

    [ConformanceTest("active_mm.rst / context_switch() / exit_mm() on the seeded scheduler: user processes (one with a CLONE_VM thread) and kernel threads on 4 CPUs; no mm freed while used; at the end mm_count = lazy users (+1 while mm_users > 0)", Group = "concurrency", Cpus = 4, Seed = 31)]
    public void lazy_tlb_on_the_scheduler_balances_mm_count(ConformanceContext ctx)
    {
        var a = ctx.Subject<IAddressSpace>();
        var mms = new List<mm_struct>();
        var tasks = new List<task_struct>();
        int failures = 0;
        string? firstFailure = null;
        int Process()
        {
            var mm = current.mm!;
            for (int i = 0; i < 4; i++)
            {
                mmap_write_lock(mm);
                ulong addr = do_mmap(null, 0, P(2), i % 2 == 0 ? RW : PROT_READ, ANON, 0);
                if (IS_ERR_VALUE(addr))
                {
                    failures++;
                    firstFailure ??= $"do_mmap in {current} returned {Err(addr)}";
                }
                mmap_write_unlock(mm);
                msleep(1);
            }
            return 0;
        }
        for (int i = 0; i < 5; i++)
        {
            var mm = a.mm_alloc()!;
            mm.name = $"proc{i}.mm";
            mms.Add(mm);
            if (i == 0)
            {
                a.mmget(mm);
                tasks.Add(UserTasks.spawn_user_process("proc0-thread", mm, Process));
            }
            tasks.Add(UserTasks.spawn_user_process($"proc{i}", mm, Process));
            tasks.Add(kthread_run(_ => { for (int j = 0; j < 5; j++) { schedule(); msleep(1); } return 0; }, null, $"kworker/{i}"));
        }
        while (tasks.Any(t => t.sim.IsAlive))
        {
            foreach (var mm in mms)
            {
                bool used = ctx.Machine.AllTasks.Any(t => t.IsAlive && (ReferenceEquals(t.Task.active_mm, mm) || ReferenceEquals(t.Task.mm, mm)));
                ctx.Check(!(used && mm.freed), "an mm is never freed while a task uses it as mm or borrows it as active_mm", "not freed while in use",
                    $"{mm.name} freed; users: {string.Join(", ", ctx.Machine.AllTasks.Where(t => ReferenceEquals(t.Task.active_mm, mm)).Select(t => t.Task.ToString()))}");
                ctx.Check(mm.mm_count >= 0 && mm.mm_users >= 0, "mm_users and mm_count never go below 0 (no double mmput/mmdrop)", ">= 0", Counts(mm));
            }
            msleep(1);
        }
        ctx.Check(failures == 0, "do_mmap in user processes succeeds", "no failure", firstFailure);
        foreach (var mm in mms)
        {
            int lazy = Borrowers(ctx, mm);
            ctx.Equal(0, mm.mm_users, $"every user of {mm.name} has exited and dropped its mm_users reference");
            ctx.Check(mm.map_count == 0, "exit_mmap() removed every VMA once mm_users reached 0", "0 VMAs", $"{mm.map_count}");
            ctx.Equal(lazy, mm.mm_count, $"L-2: mm_count of {mm.name} equals the tasks still borrowing it as active_mm ({lazy}), as no real user is left");
            ctx.Equal(lazy == 0, mm.freed, $"{mm.name} is freed exactly when nobody borrows it any more");
        }
    }

    // ---- The mmap lock ----

    [ConformanceTest("mmap_read_lock()/mmap_write_lock() in include/linux/mmap_lock.h (kernel/locking/rwsem.c): readers share the lock, a writer excludes readers and writers, and waiters sleep", Group = "concurrency", Cpus = 4, Seed = 41)]
    public void mmap_lock_is_a_sleeping_reader_writer_lock(ConformanceContext ctx)
    {
        var a = ctx.Subject<IAddressSpace>();
        var mm = a.mm_alloc()!;
        int readers = 0, writers = 0, maxReaders = 0, violations = 0;
        string? violation = null;
        bool allReadersInside = false, phase1Done = false;
        const int nReaders = 3;
        var tasks = new List<task_struct>();
        void Violation(string what)
        {
            violations++;
            violation ??= what;
        }
        for (int i = 0; i < nReaders; i++)
        {
            tasks.Add(kthread_run(_ =>
            {
                // Phase 1: every reader takes the lock and waits (bounded) for the others to be inside too:
                // only possible if readers share it.
                mmap_read_lock(mm);
                readers++;
                maxReaders = Math.Max(maxReaders, readers);
                for (int j = 0; j < 30 && readers < nReaders; j++)
                    msleep(1);
                if (readers == nReaders)
                    allReadersInside = true;
                msleep(2);
                readers--;
                mmap_read_unlock(mm);
                phase1Done = true;
                // Phase 2: readers and writers contend.
                for (int r = 0; r < 4; r++)
                {
                    mmap_read_lock(mm);
                    readers++;
                    if (writers != 0)
                        Violation("a reader got mmap_lock while a writer held it");
                    msleep(1);
                    readers--;
                    mmap_read_unlock(mm);
                    msleep(1);
                }
                return 0;
            }, null, $"reader{i}"));
        }
        for (int i = 0; i < 2; i++)
        {
            tasks.Add(kthread_run(_ =>
            {
                for (int j = 0; j < 60 && !phase1Done; j++)
                    msleep(1);
                for (int r = 0; r < 3; r++)
                {
                    mmap_write_lock(mm);
                    writers++;
                    if (writers != 1 || readers != 0)
                        Violation($"a writer got mmap_lock with {writers - 1} other writers and {readers} readers inside");
                    msleep(1);
                    writers--;
                    mmap_write_unlock(mm);
                    msleep(1);
                }
                return 0;
            }, null, $"writer{i}"));
        }
        foreach (var t in tasks)
            kthread_stop(t);
        ctx.Check(violations == 0, "mmap_write_lock() excludes every other holder (rw_semaphore writer)", "no overlap", violation);
        ctx.Check(allReadersInside, "mmap_read_lock() is shared: several readers hold it at once (rw_semaphore readers)", $"{nReaders} readers inside together", $"at most {maxReaders}");
        ctx.Check(!mm.mmap_lock.IsHeld, "every holder released mmap_lock", "free", "held");
        a.mmput(mm);
    }
}
