using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Reflection.Metadata;

namespace KernelHarness.Grader.IlCheck;

/// <summary>The referenced type names a signature mentions (pointers as <c>*pointer*</c>).</summary>
public sealed record Names(ImmutableArray<string> Types)
{
    public static readonly Names Empty = new(ImmutableArray<string>.Empty);

    public static Names Of(params string[] names) => new(names.ToImmutableArray());

    public Names With(Names other) => new(Types.AddRange(other.Types));
}

/// <summary>Turns metadata handles and signatures into dotted names the allowlist decides.</summary>
internal sealed class NameProvider : ISignatureTypeProvider<Names, object?>
{
    private readonly MetadataReader md;
    private readonly HashSet<string> own = new(StringComparer.Ordinal);

    public NameProvider(MetadataReader md)
    {
        this.md = md;
        foreach (var th in md.TypeDefinitions)
            own.Add(DefinitionName(th));
    }

    public bool IsOwnType(string name) => own.Contains(name) || own.Any(o => name.StartsWith(o + ".", StringComparison.Ordinal));

    /// <summary>Every name a token in a method body (or an attribute constructor) refers to.</summary>
    public IEnumerable<string> NamesOf(EntityHandle handle)
    {
        switch (handle.Kind)
        {
            case HandleKind.TypeReference:
                return new[] { ReferenceName((TypeReferenceHandle)handle) };
            case HandleKind.TypeDefinition:
            case HandleKind.MethodDefinition:
            case HandleKind.FieldDefinition:
                return Array.Empty<string>();
            case HandleKind.TypeSpecification:
                return md.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(this, null).Types;
            case HandleKind.MemberReference:
            {
                var member = md.GetMemberReference((MemberReferenceHandle)handle);
                var name = md.GetString(member.Name);
                switch (member.Parent.Kind)
                {
                    case HandleKind.TypeReference:
                    {
                        // The member's own name decides: a type's rule covers its members unless a more
                        // specific member rule says otherwise (+System.Type.GetTypeFromHandle under -System.Type),
                        // exactly as KH9001 decides.
                        var type = ReferenceName((TypeReferenceHandle)member.Parent);
                        return new[] { type + "." + name };
                    }
                    case HandleKind.TypeSpecification:
                    {
                        var types = md.GetTypeSpecification((TypeSpecificationHandle)member.Parent).DecodeSignature(this, null).Types;
                        if (types.Length == 0)
                            return Array.Empty<string>();
                        return types.Skip(1).Append(types[0] + "." + name);
                    }
                    case HandleKind.ModuleReference:
                        return new[] { "*native module*." + name };
                    default:
                        return Array.Empty<string>();
                }
            }
            case HandleKind.MethodSpecification:
            {
                var spec = md.GetMethodSpecification((MethodSpecificationHandle)handle);
                var args = spec.DecodeSignature(this, null).SelectMany(n => n.Types);
                return NamesOf(spec.Method).Concat(args);
            }
            default:
                return Array.Empty<string>();
        }
    }

    private string DefinitionName(TypeDefinitionHandle th)
    {
        var t = md.GetTypeDefinition(th);
        var name = StripArity(md.GetString(t.Name));
        var declaring = t.GetDeclaringType();
        if (!declaring.IsNil)
            return DefinitionName(declaring) + "." + name;
        var ns = md.GetString(t.Namespace);
        return ns.Length == 0 ? name : ns + "." + name;
    }

    private string ReferenceName(TypeReferenceHandle th)
    {
        var t = md.GetTypeReference(th);
        var name = StripArity(md.GetString(t.Name));
        if (t.ResolutionScope.Kind == HandleKind.TypeReference)
            return ReferenceName((TypeReferenceHandle)t.ResolutionScope) + "." + name;
        var ns = md.GetString(t.Namespace);
        return ns.Length == 0 ? name : ns + "." + name;
    }

    private static string StripArity(string name)
    {
        int tick = name.IndexOf('`', StringComparison.Ordinal);
        return tick < 0 ? name : name[..tick];
    }

    public Names GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode switch
    {
        PrimitiveTypeCode.TypedReference => Names.Of("System.TypedReference"),
        _ => Names.Empty,
    };

    public Names GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => Names.Empty;

    public Names GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind)
    {
        var name = ReferenceName(handle);
        return own.Contains(name) ? Names.Empty : Names.Of(name);
    }

    public Names GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
        reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);

    public Names GetSZArrayType(Names elementType) => elementType;
    public Names GetArrayType(Names elementType, ArrayShape shape) => elementType;
    public Names GetByReferenceType(Names elementType) => elementType;
    public Names GetPinnedType(Names elementType) => elementType;
    public Names GetPointerType(Names elementType) => elementType.With(Names.Of("*pointer*"));
    public Names GetFunctionPointerType(MethodSignature<Names> signature) => Names.Of("*pointer*");

    public Names GetGenericInstantiation(Names genericType, ImmutableArray<Names> typeArguments) =>
        typeArguments.Aggregate(genericType, (acc, a) => acc.With(a));

    public Names GetGenericMethodParameter(object? genericContext, int index) => Names.Empty;
    public Names GetGenericTypeParameter(object? genericContext, int index) => Names.Empty;
    public Names GetModifiedType(Names modifier, Names unmodifiedType, bool isRequired) => unmodifiedType.With(modifier);
    public Names GetSentinelType() => Names.Empty;
}
